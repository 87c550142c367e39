"""A report drawn as page ranges in worker processes: one document, the whole's counts, nothing left behind.

The pages themselves are held to the golden files (``test_pdf_golden``) both ways.
"""

from __future__ import annotations

import io
import multiprocessing
import tempfile

import pikepdf
import pytest
from pypdf import PdfReader

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines.reports.preview import sample_tables
from export_pipelines_tests.display.rendered import RULES, render_with
from export_pipelines_tests.formats.samples import TIMEZONE
from export_pipelines_tests.reports.conftest import page_texts, render_pdf

HIGHLIGHT_RED = "q 0.7529 0.0000 0.0000 rg"  # the text block of #C00000, as the report's text writer opens it


@pytest.fixture
def small_ranges(monkeypatch, tmp_path):
    """Ranges of 30 rows, and temporary files in a folder of the test's own."""
    monkeypatch.setattr(renderer_class("pdf"), "range_rows", 30)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_ranges_join_into_one_document_that_states_the_whole_reports_counts(small_ranges):
    pdf = render_pdf(list(sample_tables(200, TIMEZONE, chunk_rows=70)), title="Orders by range")

    reader = PdfReader(io.BytesIO(pdf))
    texts = page_texts(pdf)
    assert len(texts) >= 6, "several ranges of pages"
    assert all(f"Page {number} of {len(texts)}" in text for number, text in enumerate(texts, start=1))
    assert "Rows: 200" in texts[0]
    assert reader.metadata.title == "Orders by range" and reader.metadata.subject == "Export run-0123abcd"
    assert not list(small_ranges.iterdir()), "the ranges' files are removed"
    assert not multiprocessing.active_children(), "the workers are stopped"


def test_a_refused_write_stops_the_workers_and_removes_the_ranges(small_ranges, monkeypatch):
    monkeypatch.setattr(renderer_class("pdf"), "max_rows", 150)

    with pytest.raises(ExportRequestError, match="a pdf report holds at most 150 rows"):
        render_pdf(list(sample_tables(200, TIMEZONE, chunk_rows=70)))

    assert not list(small_ranges.iterdir())
    assert not multiprocessing.active_children()


def _embedded_fonts(pdf: bytes) -> int:
    """Font programs in the file: each range embeds its own subsets, so a joined report has more."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return sum(1 for item in document.objects if isinstance(item, pikepdf.Stream) and "/Length1" in item)


def test_with_one_worker_the_report_is_drawn_in_process_as_one_range(small_ranges, monkeypatch, fixed_clock):
    tables = list(sample_tables(200, TIMEZONE, chunk_rows=70))
    joined = render_pdf(tables)
    monkeypatch.setattr(renderer_class("pdf"), "workers", 1)

    whole = render_pdf(tables)

    assert _embedded_fonts(whole) < _embedded_fonts(joined)
    assert page_texts(whole) == page_texts(joined)


def test_display_rules_and_highlights_reach_the_range_workers(small_ranges, monkeypatch, fixed_clock):
    tables = list(sample_tables(200, TIMEZONE, chunk_rows=70))
    joined = render_with("pdf", tables=tables, **RULES)
    monkeypatch.setattr(renderer_class("pdf"), "workers", 1)

    whole = render_with("pdf", tables=tables, **RULES)

    assert _embedded_fonts(whole) < _embedded_fonts(joined)
    assert page_texts(whole) == page_texts(joined)
    assert "€" in page_texts(joined)[-1], "the locale's currency format, on the last range's page"
    red = [_pages_with(HIGHLIGHT_RED, pdf) for pdf in (joined, whole)]
    assert red[0] == red[1] and any(red[0][1:]), "rows over 1000 in red, in later ranges too"


def _pages_with(operators: str, pdf: bytes) -> list[bool]:
    return [operators in page.get_contents().get_data().decode("latin-1") for page in PdfReader(io.BytesIO(pdf)).pages]
