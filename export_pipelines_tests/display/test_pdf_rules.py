"""Display rules in PDF reports, read back with pypdf: the formatted text, labels, totals, and highlight
styles in the page's content (bold, text colour, cell fill); a template's rules under a request's."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from export_pipelines.cli import main
from export_pipelines.errors import ExportRequestError
from export_pipelines_tests.display.rendered import RULES, display_for, render_with
from export_pipelines_tests.reports.conftest import page_texts

RED = "q 0.7529 0.0000 0.0000 rg"  # the text block of #C00000, as the report's text writer opens it
YELLOW_FILL = "1 .94902 .8 rg"  # #FFF2CC as reportlab sets a fill colour


def _content(pdf: bytes) -> str:
    return "".join(page.get_contents().get_data().decode("latin-1") for page in PdfReader(io.BytesIO(pdf)).pages)


def _block(content: str, opening: str) -> str:
    start = content.index(opening)
    return content[start : content.index("ET Q", start)]


@pytest.fixture(scope="module")
def pdf():
    return render_with("pdf", **RULES)


def test_the_report_prints_the_display_text_and_labels(pdf):
    [text] = page_texts(pdf)

    for shown in ("Betrag", "1.234,50 €", "9.999.999,99 €", "0,01 €", "15.01.2024 13:00", "20. Januar 2024",
                  "offen", "12,5 %", "10,0 %"):  # fmt: skip
        assert shown in text, shown
    assert "1234.50" not in text and "2024-01-15" not in text


def test_highlighted_rows_are_bold_and_red_and_listed_cells_filled(pdf):
    content = _content(pdf)
    red = _block(content, RED)

    assert "(acme) Tj" in red and "(initech) Tj" in red  # the rows over 1000, whole
    assert "(globex)" not in red and "(hooli)" not in red
    assert "2 Tr" in red  # emboldened
    filled = [path.split(" f", 1)[0] for path in content.split(YELLOW_FILL)[1:]]  # a page's yellow cells: one path
    assert sum(path.count(" re") for path in filled) == 2  # the status cells of the pending and refunded rows


def test_without_rules_the_report_prints_raw_values():
    [text] = page_texts(render_with("pdf"))

    assert "1234.50" in text and "Amount" in text and "€" not in text


def test_a_templates_rules_apply_under_the_requests(template_dir):
    (template_dir / "fr.yaml").write_text(
        "locale: fr-FR\n"
        "columns:\n  amount: {number: currency, currency: EUR, label: Montant}\n  quantity: {thousands: true}\n"
        "totals: [amount]\n"
        "highlight:\n  - {when: \"quantity >= 500\", italic: true, color: '#0000FF'}\n",
        encoding="utf-8",
    )  # fmt: skip
    options = {"template": "fr"}

    [french] = page_texts(render_with("pdf", options, format_options=options))
    [german] = page_texts(render_with("pdf", options, format_options=options, locale="de-DE",
                                      formats={"amount": {"label": "Betrag"}}))  # fmt: skip

    assert "Montant" in french and "1 234,50 €" in french and "10 001 234,50 €" in french  # the total too
    assert "Betrag" in german and "1.234,50 €" in german and "Montant" not in german
    blue = _block(_content(render_with("pdf", options, format_options=options)), "q 0.0000 0.0000 1.0000 rg")
    assert "(initech) Tj" in blue and "0.21 1" in blue  # slanted: italic


def test_a_bad_rule_in_a_template_names_the_template_and_the_field(template_dir):
    (template_dir / "bad.yaml").write_text("columns:\n  status: {number: percent}\n", encoding="utf-8")

    with pytest.raises(ExportRequestError) as refused:
        display_for("pdf", format_options={"template": "bad"})

    assert str(refused.value).startswith(
        "format_options.template: columns.status.number: applies to number columns; this one is string"
    )


def test_template_preview_applies_and_lists_the_rules(tmp_path, capsys):
    template = tmp_path / "rules.yaml"
    template.write_text("locale: de-DE\ncolumns:\n  amount: {number: currency, currency: EUR}\n"
                        "highlight:\n  - {when: \"amount > 100\", bold: true, background: '#FFF2CC'}\n")  # fmt: skip
    out = tmp_path / "preview.pdf"

    assert main(["template", "preview", str(template), "--rows", "30", "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "Locale: de_DE" in printed and "Column amount: number: currency, currency: EUR" in printed
    assert "Highlight when amount > 100: bold: True, background: #FFF2CC" in printed
    assert re.search(r"\d,\d\d €", " ".join(page_texts(out.read_bytes())))
    assert YELLOW_FILL in _content(out.read_bytes())


def test_a_rules_alignment_moves_the_text_in_its_cell():
    def x_of(pdf: bytes, text: str) -> float:
        return float(re.search(rf"1 0 0 1 ([0-9.]+) [0-9.]+ Tm\n?\s*\({text}\) Tj", _content(pdf)).group(1))

    left = x_of(render_with("pdf"), "paid")
    right = x_of(render_with("pdf", formats={"status": {"align": "right"}}), "paid")

    assert right > left + 10
