"""Template errors: each refused by ``check_options`` / ``check_columns`` (before a row is read),
naming ``format_options.template`` and the YAML field at fault."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PdfReader

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines.reports.template_files import load_template
from export_pipelines_tests.formats.samples import COLUMNS, chunks
from export_pipelines_tests.reports.conftest import render_pdf

PDF = renderer_class("pdf")


def _refusal(template: str) -> str:
    with pytest.raises(ExportRequestError) as refused:
        PDF.check_options({"template": template})
    assert refused.value.field == "format_options.template"
    return str(refused.value)


def test_the_shipped_default_template_is_valid_and_used_by_default():
    assert PDF.check_options({}) == {"template": "default"}
    assert load_template("default").page_size == "A4"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title: [unclosed\n", "not valid YAML at line 2"),
        ("- a\n- b\n", "must be a mapping of template fields"),
        ("titel: Report\n", "titel: unknown field (allowed: title, subtitle, logo, page"),
        ("colours: {gird: '#000000'}\n", "colours.gird: unknown field (allowed: header_background"),
        ("colours: {grid: blue-ish}\n", "colours.grid: 'blue-ish' is not a colour (allowed: #RRGGBB"),
        ("colours: {header_text: null}\n", "colours.header_text: None is not a colour"),
        ("page: {size: A3}\n", "page.size: 'A3' is not valid (allowed: A4, Letter)"),
        ("page: {orientation: sideways}\n", "page.orientation: 'sideways' is not valid"),
        ("fonts: {size: 40}\n", "fonts.size: 40 is not valid (allowed: a number from 5 to 14)"),
        ("fonts: {regular: comic-sans}\n", "fonts.regular: 'comic-sans' is neither a bundled font"),
        ("fonts: {fallbacks: [missing.ttf]}\n", "fonts.fallbacks[0]: font file"),
        ("footer: {right: 'Page {page} of {pgaes}'}\n", "footer.right: unknown placeholder {pgaes}"),
        ("header: {left: 'Total {rows:,}'}\n", "header.left: unknown placeholder {rows:,}"),
        ("header: {left: 'a } b'}\n", "header.left: Single '}' encountered"),
        ("logo: nope.png\n", "logo: file 'nope.png' does not exist"),
        ("columns: {amount: {width: -3}}\n", "columns.amount.width: -3 is not valid (allowed: millimetres"),
        ("columns: {amount: {align: justify}}\n", "columns.amount.align: 'justify' is not valid"),
        ("columns: {amount: {colour: red}}\n",
         "columns.amount.colour: unknown field (allowed: label, width, align, number, decimals, thousands, currency"),
        ("totals: amount\n", "totals: must be a list of column names"),
        ("locale: Klingon\n", "locale: 'Klingon' is not a known locale"),
        ("columns: {amount: {decimals: 99}}\n", "columns.amount.decimals: 99 is not valid (allowed: 0 to 9)"),
        ("highlight: [{when: 'amount > 1', color: pink}]\n", "highlight[0].color: 'pink' is not a colour"),
    ],
)
def test_a_bad_template_is_refused_with_the_field_at_fault(template_dir, text, expected):
    (template_dir / "bad.yaml").write_text(text)

    message = _refusal("bad")

    assert message.startswith("format_options.template: ")
    assert expected in message


def test_a_logo_that_is_not_an_image_is_refused(template_dir):
    (template_dir / "logo.png").write_text("not a picture")
    (template_dir / "bad.yaml").write_text("logo: logo.png\n")

    assert "logo: 'logo.png' is not a readable PNG or JPEG image" in _refusal("bad")


def test_a_font_file_that_is_not_truetype_is_refused(template_dir):
    (template_dir / "broken.ttf").write_bytes(b"OTTO" + bytes(200))
    (template_dir / "bad.yaml").write_text("fonts: {regular: broken.ttf}\n")

    assert "fonts.regular: broken.ttf:" in _refusal("bad")


@pytest.mark.parametrize(
    ("totals", "expected"),
    [
        ("[foo]", "totals[0]: column 'foo' is not a column of the export (allowed: order_id, tenant_id"),
        ("[amount, status]", "totals[1]: column 'status' is string; only integer, float, decimal columns can be"),
    ],
)
def test_totals_are_checked_against_the_export_columns(template_dir, totals, expected):
    (template_dir / "sums.yaml").write_text(f"totals: {totals}\n")
    settings = PDF.check_options({"template": "sums"})  # the columns are not known to check_options

    with pytest.raises(ExportRequestError) as refused:
        PDF.check_columns(settings, COLUMNS)

    assert str(refused.value).startswith("format_options.template: " + expected)


def test_the_renderer_refuses_bad_totals_before_writing_a_byte(template_dir):
    (template_dir / "sums.yaml").write_text("totals: [foo]\n")

    with pytest.raises(ExportRequestError, match=r"totals\[0\]: column 'foo'"):
        render_pdf(chunks(), {"template": "sums"})


def test_unknown_template_names_list_the_shipped_ones():
    assert "no template named 'fancy' (shipped: default;" in _refusal("fancy")


def test_a_request_may_not_read_templates_outside_the_template_folders(tmp_path, template_dir):
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("title: x\n")

    assert "is outside the template folders" in _refusal(str(outside))
    assert "is outside the template folders" in _refusal("/etc/passwd")
    assert "must end in .yaml" in _refusal("notes.txt")


OUTSIDE_ALLOWED = "allowed: a template name, or a path relative to the template folder without '..'"


@pytest.mark.parametrize(
    "spec",
    ["../elsewhere.yaml", "../elsewhere", "nested/../../elsewhere.yaml", "..", "ABSOLUTE", "ABSOLUTE_INSIDE"],
)
def test_paths_leaving_the_template_folders_are_refused_before_looking_for_the_file(tmp_path, template_dir, spec):
    (tmp_path / "elsewhere.yaml").write_text("title: x\n")
    (template_dir / "nested").mkdir()
    (template_dir / "fine.yaml").write_text("title: Fine\n")
    spec = {"ABSOLUTE": str(tmp_path / "elsewhere.yaml"), "ABSOLUTE_INSIDE": str(template_dir / "fine.yaml")}.get(
        spec, spec
    )
    missing = spec.replace("elsewhere", "no-such-file").replace("fine", "no-such-file")

    message = _refusal(spec)

    assert "is outside the template folders" in message and OUTSIDE_ALLOWED in message
    # The same answer whether the file exists or not: a request cannot probe the server's files.
    assert _refusal(missing) == message.replace(repr(spec), repr(missing))


def test_a_symlink_out_of_the_template_folder_is_refused(tmp_path, template_dir):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "keys.yaml").write_text("title: x\n")
    (template_dir / "innocent.yaml").symlink_to(secret / "keys.yaml")
    (template_dir / "dangling.yaml").symlink_to(secret / "absent.yaml")
    (template_dir / "linked").symlink_to(secret, target_is_directory=True)

    for spec in ("innocent", "innocent.yaml", "dangling", "linked/keys.yaml", "linked/absent"):
        message = _refusal(spec)
        assert "is outside the template folders" in message and OUTSIDE_ALLOWED in message, spec
        assert str(secret) not in message, spec  # where a link points is not told


def test_a_nested_template_and_a_link_inside_the_folder_are_fine(template_dir):
    (template_dir / "finance" / "monthly").mkdir(parents=True)
    (template_dir / "finance" / "monthly" / "summary.yaml").write_text("title: 'Monthly: {title}'\n")
    (template_dir / "current.yaml").symlink_to(template_dir / "finance" / "monthly" / "summary.yaml")

    for spec in ("finance/monthly/summary", "finance/monthly/summary.yaml", "current"):
        assert PDF.check_options({"template": spec}) == {"template": spec}
        assert load_template(spec).title == "Monthly: {title}"


@pytest.mark.parametrize("font", ["../outside.ttf", "ABSOLUTE", "link.ttf", "../missing.ttf", "ABSOLUTE_MISSING"])
def test_template_fonts_may_not_leave_the_template_folder_and_are_not_probed(tmp_path, template_dir, font):
    (tmp_path / "outside.ttf").write_bytes(b"not a font")
    (template_dir / "link.ttf").symlink_to(tmp_path / "outside.ttf")
    font = {"ABSOLUTE": str(tmp_path / "outside.ttf"), "ABSOLUTE_MISSING": str(tmp_path / "missing.ttf")}.get(
        font, font
    )
    (template_dir / "bad.yaml").write_text(f"fonts: {{fallbacks: ['{font}']}}\n")

    message = _refusal("bad")

    assert f"fonts.fallbacks[0]: {font!r} is outside the template folder" in message
    assert "allowed: a bundled font name, or a .ttf/.ttc path relative to the template" in message
    assert "does not exist" not in message and "outside.ttf:" not in message


def test_a_template_may_not_point_its_logo_outside_its_folder(tmp_path, template_dir):
    Image.new("RGB", (40, 20), "red").save(tmp_path / "logo.png")
    (template_dir / "bad.yaml").write_text(f"logo: {tmp_path / 'logo.png'}\n")

    assert "logo: " in _refusal("bad") and "is outside the template folder" in _refusal("bad")


def test_a_logo_is_drawn_on_the_first_page(template_dir):
    Image.new("RGB", (200, 80), (31, 58, 95)).save(template_dir / "logo.png")
    (template_dir / "branded.yaml").write_text("logo: logo.png\ntitle: 'ACME report: {title}'\n")

    pdf = render_pdf(chunks(), {"template": "branded"})

    first = PdfReader(io.BytesIO(pdf)).pages[0]
    assert len(first.images) == 1
    assert "ACME report: Orders" in first.extract_text()
