"""What a PDF report says, read back with pypdf: first page, header and footer on every page,
non-Latin text, wrapping, totals and orientation."""

from __future__ import annotations

import io
import re
import unicodedata
from decimal import Decimal

import pytest
from pypdf import PdfReader

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines.reports.preview import sample_tables
from export_pipelines_tests.formats.samples import COLUMNS, LABELS, ROWS, TIMEZONE, chunks, shaped_table
from export_pipelines_tests.reports.conftest import page_texts, render_pdf

BY_NAME = {column.name: column for column in COLUMNS}


def _many_rows(count: int) -> list:
    return list(sample_tables(count, TIMEZONE, chunk_rows=150))


def _rows(**changes) -> dict:
    return {**ROWS[0], **changes}


def test_first_page_states_title_generation_time_row_count_and_filters():
    pdf = render_pdf(chunks(2), title="Paid orders, Q3", filters=("status in ('paid', 'shipped')", "amount ge 10"))

    first = page_texts(pdf)[0]
    assert "Paid orders, Q3" in first
    assert re.search(r"Generated: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", first)
    assert f"Time zone: {TIMEZONE}" in first
    assert "Rows: 4" in first
    assert "Filter: status in ('paid', 'shipped')" in first and "Filter: amount ge 10" in first


def test_every_page_repeats_the_header_and_says_page_n_of_m_and_the_export_id():
    pdf = render_pdf(_many_rows(450), export_id="run-5f2c9e1a")

    texts = page_texts(pdf)
    assert len(texts) >= 3
    for number, text in enumerate(texts, start=1):
        for label in ("Order ID", "Customer", "Amount", "Created at", "Note"):
            assert label in text, f"header missing on page {number}"
        assert f"Page {number} of {len(texts)}" in text
        assert "Export run-5f2c9e1a" in text
    assert "Rows: 450" in texts[0]


def test_rows_are_all_there_in_order():
    pdf = render_pdf(_many_rows(300), columns=(BY_NAME["order_id"], BY_NAME["status"]))

    numbers = [int(n) for n in re.findall(r"(?<![\d:-])(\d+) (?:pending|paid|shipped|cancelled|refunded)\b",
                                          " ".join(page_texts(pdf)))]
    assert numbers == list(range(1, 301))


def test_non_latin_text_is_drawn_with_embedded_fonts_that_have_its_glyphs():
    names = ["Zoë Ångström", "李小龙", "Łukasz Żółć", "محمد", "José Núñez"]
    pdf = render_pdf([shaped_table([_rows(order_id=i, customer_name=name) for i, name in enumerate(names)])])

    text = page_texts(pdf)[0]
    for name in ("Zoë Ångström", "李小龙", "Łukasz Żółć", "José Núñez"):
        assert name in text
    # Arabic is drawn shaped (joined presentation forms) in visual order; a reader gets it back.
    assert "ﻣﺤﻤﺪ" in text and "محمد" in unicodedata.normalize("NFKC", text)
    embedded = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if font["/BaseFont"] == "/Helvetica":  # reportlab's initial font, declared but never used
                continue
            descriptor = font["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, "TrueType subsets are embedded, not referenced"
            embedded.add(str(font["/BaseFont"]).split("+", 1)[-1])
    assert {"NotoSans-Regular", "NotoSansArabic-Regular"} <= embedded
    assert any(name.startswith("WenQuanYiMicroHei") for name in embedded), embedded  # a .ttc: "-0" appended


def test_arabic_is_joined_and_right_to_left_inside_left_to_right_text():
    pdf = render_pdf([shaped_table([_rows(note="Order محمد علي 123 done")])])

    text = page_texts(pdf)[0]
    assert "Order 123" in text, "the right-to-left run (with its number) is reversed as a whole"
    assert "محمد علي" in unicodedata.normalize("NFKC", text)


def test_long_text_is_wrapped_inside_its_column_and_no_word_is_lost():
    words = [f"word{i:02d}" for i in range(60)]
    token = "https://example.com/" + "x" * 150  # wider than any column: broken between characters
    pdf = render_pdf([shaped_table([_rows(note=" ".join(words) + " " + token), _rows(order_id=2, note="short")])])

    reader = PdfReader(io.BytesIO(pdf))
    raw = reader.pages[0].extract_text()
    flat = re.sub(r"\s+", " ", raw)
    positions = [flat.index(word) for word in words]
    assert positions == sorted(positions), "every word, in order"
    assert token in "".join(raw.split()), "the unbroken token is split over lines, not cut"
    assert raw.count("word") == 60 and "\n" in raw[raw.index("word00"):raw.index("word59")]


def test_a_row_taller_than_a_page_continues_on_the_next_page():
    lines = [f"line {i:03d}" for i in range(250)]
    pdf = render_pdf([shaped_table([_rows(note="\n".join(lines)), _rows(order_id=2, note="after")])])

    texts = page_texts(pdf)
    assert len(texts) >= 3
    joined = " ".join(texts)
    assert all(line in joined for line in lines) and "after" in texts[-1]
    assert all("Order ID" in text for text in texts)


def test_totals_row_sums_decimals_exactly(template_dir):
    (template_dir / "totals.yaml").write_text("totals: [amount, quantity, discount_rate]\ntotals_label: Sum\n")
    amounts = ["0.10", "0.10", "0.10", "9999999.99", "1234.50"]
    rows = [_rows(order_id=i, amount=Decimal(a), quantity=i + 1, discount_rate=0.1) for i, a in enumerate(amounts)]
    rows.append(_rows(order_id=9, amount=None, quantity=None, discount_rate=None))

    pdf = render_pdf([shaped_table(rows[:2]), shaped_table(rows[2:])], options={"template": "totals"})

    last = page_texts(pdf)[-1]
    assert "Sum" in last
    assert "10001234.79" in last, "0.10 * 3 + 9999999.99 + 1234.50, with no float rounding"
    assert re.search(r"10001234\.79 .*\b15\b", last), "quantities 1..5"
    assert "0.5" in last


def test_landscape_is_chosen_when_the_columns_need_it():
    wide = PdfReader(io.BytesIO(render_pdf(chunks()))).pages[0].mediabox
    narrow_columns = (BY_NAME["order_id"], BY_NAME["customer_name"], BY_NAME["amount"])
    narrow = PdfReader(io.BytesIO(render_pdf([shaped_table(ROWS, narrow_columns)], columns=narrow_columns)))

    assert wide.width > wide.height, "13 columns do not fit upright"
    box = narrow.pages[0].mediabox
    assert box.width < box.height, "three columns do"
    assert round(box.width) == 595, "A4 by default"


def test_orientation_and_page_size_from_the_template(template_dir):
    (template_dir / "letter.yaml").write_text("page: {size: Letter, orientation: landscape}\n")
    columns = (BY_NAME["order_id"],)

    box = PdfReader(io.BytesIO(render_pdf([shaped_table(ROWS, columns)], {"template": "letter"}, columns))).pages[0]

    assert (round(box.mediabox.width), round(box.mediabox.height)) == (792, 612)


def test_an_empty_export_is_a_one_page_report_with_its_header():
    texts = page_texts(render_pdf([shaped_table([])], filters=()))

    assert len(texts) == 1
    assert "Rows: 0" in texts[0] and "Filters: none" in texts[0] and "Page 1 of 1" in texts[0]
    assert all(label in texts[0] for label in ("Order ID", "Shipped", "Note"))


def test_column_labels_widths_alignment_and_colours_come_from_the_template(template_dir):
    (template_dir / "styled.yaml").write_text(
        "columns:\n  amount: {label: 'Betrag (€)', width: 40, align: left}\n  not_exported: {label: X}\n"
        "colours: {header_background: '#FF0000', zebra: null}\nheader: {left: 'ACME {user}', right: ''}\n"
    )
    pdf = render_pdf(chunks(), {"template": "styled"})

    text = page_texts(pdf)[0]
    assert "Betrag (€)" in text and "Amount" not in text.split("Betrag")[1]
    content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data().decode("latin-1")
    assert "1 0 0 rg" in content, "the header background is red"
    assert all(label in text for label in LABELS if label != "Amount")


def test_a_long_title_is_kept_whole_in_the_page_header_and_on_the_first_page():
    title = "Quarterly reconciliation of " + " ".join(f"region{i}" for i in range(30)) + " end"
    pdf = render_pdf(chunks(), title=title)

    texts = page_texts(pdf)
    assert texts[0].count(title) == 2, "in the header band (drawn smaller) and as the wrapped heading"


def test_rows_and_pages_placeholders_work_anywhere_in_a_band(template_dir):
    (template_dir / "counts.yaml").write_text("header: {left: '{rows} rows on {pages} pages', right: ''}\n")

    texts = page_texts(render_pdf(_many_rows(200), {"template": "counts"}))

    assert all(f"200 rows on {len(texts)} pages" in text for text in texts)


def test_a_report_over_the_row_limit_is_refused(monkeypatch):
    monkeypatch.setattr(renderer_class("pdf"), "max_rows", 3)

    with pytest.raises(ExportRequestError, match=r"format: a pdf report holds at most 3 rows"):
        render_pdf(chunks(2))


def test_characters_no_font_has_show_as_a_replacement_mark_not_as_nothing():
    pdf = render_pdf([shaped_table([_rows(customer_name="Café ☕ 🚀 Ltd", note="keep\u200dthis")])])

    text = page_texts(pdf)[0]
    assert "Café \ufffd \ufffd Ltd" in text
    assert "keep" in text and "this" in text
