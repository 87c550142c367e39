"""Plain rows' operators, built with Arrow kernels, draw exactly what the table draws cell by cell."""

from __future__ import annotations

import io

import pikepdf
import pytest

from export_pipelines.reports.plain_rows import PlainRows
from export_pipelines.reports.preview import sample_tables
from export_pipelines_tests.formats.samples import ROWS, TIMEZONE, shaped_table
from export_pipelines_tests.reports.conftest import render_pdf

TRICKY = [
    {**ROWS[1], "order_id": 7, "note": r"a (b) c \ d", "customer_name": "(x)", "status": ")"},
    {**ROWS[1], "order_id": 8, "note": "", "customer_name": "", "tenant_id": "t\\"},
    {**ROWS[1], "order_id": 9, "note": "x" * 300},
]


def _pages(pdf: bytes) -> list[bytes]:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return [page.Contents.read_bytes() for page in document.pages]


@pytest.mark.usefixtures("fixed_clock")
@pytest.mark.parametrize("options", [{}, {"template": "default"}])
def test_plain_rows_draw_the_same_page_contents_as_cell_by_cell(monkeypatch, options):
    tables = [shaped_table(TRICKY), *sample_tables(700, TIMEZONE, chunk_rows=250)]
    fast = render_pdf(tables, options)
    monkeypatch.setattr(PlainRows, "templates", lambda self, texts: [None] * len(texts[0]))
    cell_by_cell = render_pdf(tables, options)

    assert _pages(fast) == _pages(cell_by_cell)
