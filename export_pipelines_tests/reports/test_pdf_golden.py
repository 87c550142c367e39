"""Golden files of what a PDF report says and where: every piece of text on every page, with its position.

The golden files were written by the renderer that drew the table cell by cell on one canvas; any
renderer of the ``pdf`` format must give the same pages with the same text at the same places (to a
tenth of a point): the same pagination, column widths, alignment, wrapping, bands, "Page N of M"
and totals. Regenerate them only on purpose: ``PDF_GOLDEN_WRITE=1 pytest this_file``.
"""

from __future__ import annotations

import io
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from export_pipelines.formats import renderer_class
from export_pipelines.reports.preview import SAMPLE_FILTERS, sample_tables
from export_pipelines_tests.formats.samples import ROWS, TIMEZONE, shaped_table
from export_pipelines_tests.reports.conftest import render_pdf

GOLDEN = Path(__file__).parent / "golden"
EXAMPLE_TEMPLATE = Path(__file__).parents[2] / "examples" / "report-template.yaml"

HOSTILE_TEMPLATE = """\
title: "{title} for {user}"
logo: logo.png
header: {left: "{title}", center: "{rows} rows", right: "Page {page}/{pages}"}
footer: {left: "Export {export_id}", right: "{generated_at}"}
columns:
  customer_name: {label: "Kunde / 客户 / العميل", width: 30}
  note: {label: "Note", align: right}
  quantity: {align: center}
totals: [amount, quantity, discount_rate]
totals_label: Σ
"""


def _hostile_tables() -> list:
    """Unicode of every script the fonts cover, emoji, line breaks, unbroken tokens, a row taller than a page."""
    rows = [
        {
            **ROWS[index % len(ROWS)],
            "order_id": index,
            "amount": (Decimal(index) / 7).quantize(Decimal("0.01")) if index % 5 else None,
        }
        for index in range(1, 61)
    ]
    rows[3]["note"] = "x" * 400  # no space to break at
    rows[7]["customer_name"] = "مرحبا بالعالم Hello 世界 Ωμέγα Привет " * 3
    rows[11]["note"] = "\n".join(f"line {i:03d}" for i in range(120))  # taller than a page
    rows[12]["note"] = "tab\there, cr\r\nlf and trailing space "
    rows[20]["customer_name"] = "🚀" * 30 + " ☕ café"
    rows[33]["note"] = " ".join(f"word{i:02d}" for i in range(80))
    amounts = [Decimal(f"{index}.{index % 100:02d}") * (-1 if index % 3 == 0 else 1) for index in range(1, 61)]
    for row, amount in zip(rows[40:], amounts):
        row["amount"] = amount
    return [shaped_table(rows[:7]), shaped_table(rows[7:8]), shaped_table(rows[8:45]), shaped_table(rows[45:])]


def _cases(template_dir: Path) -> dict:
    Image.new("RGB", (60, 20), (46, 94, 78)).save(template_dir / "logo.png")
    (template_dir / "hostile.yaml").write_text(HOSTILE_TEMPLATE)
    (template_dir / "example.yaml").write_text(EXAMPLE_TEMPLATE.read_text())
    return {
        "demo": ("default", lambda: sample_tables(250, TIMEZONE, chunk_rows=100)),
        "example": ("example", lambda: sample_tables(250, TIMEZONE, chunk_rows=128)),
        "hostile": ("hostile", _hostile_tables),
    }


def placed_text(pdf: bytes) -> list[dict]:
    """Per page: its size, each line of text as "x y text" (pypdf's own reading, forms included), and the page
    as pypdf lays it out in fixed-width text (which shows each cell's alignment within its column)."""
    pages = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        pieces: list[str] = []

        def keep(text, cm, tm, font, size, pieces=pieces):
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                pieces.append(f"{x:.1f} {y:.1f} {text.strip()}")

        page.extract_text(visitor_text=keep)
        layout = [line.rstrip() for line in page.extract_text(extraction_mode="layout").splitlines()]
        pages.append(
            {
                "size": [round(float(page.mediabox.width)), round(float(page.mediabox.height))],
                "text": pieces,
                "layout": [line for line in layout if line],
            }
        )
    return pages


@pytest.fixture(params=["one range", "ranges of 40 rows"])
def ranges(request, monkeypatch):
    """Drawn whole in this process, or as page ranges of about 40 rows in worker processes, joined."""
    if request.param != "one range":
        monkeypatch.setattr(renderer_class("pdf"), "range_rows", 40)
    return request.param


@pytest.mark.parametrize("case", ["demo", "example", "hostile"])
def test_a_report_says_what_its_golden_file_says_on_every_page(case, ranges, template_dir, fixed_clock):
    template, tables = _cases(template_dir)[case]
    pdf = render_pdf(
        tables(), {"template": template}, title='Orders <Q4> & "more"', filters=SAMPLE_FILTERS, user="Zoë Ångström"
    )
    pages = placed_text(pdf)

    golden = GOLDEN / f"pdf_{case}.json"
    if os.environ.get("PDF_GOLDEN_WRITE"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(pages, ensure_ascii=False, indent=0) + "\n")
    expected = json.loads(golden.read_text())
    assert len(pages) == len(expected), "the same number of pages"
    for number, (page, wanted) in enumerate(zip(pages, expected), start=1):
        assert page == wanted, f"page {number} differs"
