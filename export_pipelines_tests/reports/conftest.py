"""Rendering PDF reports in memory and reading them back with pypdf, an independent reader."""

from __future__ import annotations

import io
import re
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from export_pipelines.formats import RenderContext, renderer_class
from export_pipelines.formats import pdf as pdf_format
from export_pipelines.reports.template_files import TEMPLATE_DIR_ENV
from export_pipelines_tests.formats.samples import COLUMNS, TIMEZONE


def render_pdf(
    tables,
    options=None,
    columns=COLUMNS,
    title="Orders",
    export_id="run-0123abcd",
    filters=("status in ('paid', 'shipped')",),
    user="",
) -> bytes:
    """Render ``tables`` with the pdf format the way render_file does; return the file's bytes."""
    stream = io.BytesIO()
    context = RenderContext(
        columns, dict(options or {}), title, TIMEZONE, export_id=export_id, filters=filters, user=user
    )
    renderer = renderer_class("pdf")(stream, context)
    for table in tables:
        renderer.write(table)
    renderer.close()
    return stream.getvalue()


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text with runs of whitespace made single spaces (pypdf breaks lines at forms)."""
    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    """A folder that requests may name templates in (``$EXPORT_REPORT_TEMPLATE_DIR``)."""
    folder = tmp_path / "templates"
    folder.mkdir()
    monkeypatch.setenv(TEMPLATE_DIR_ENV, str(folder))
    return folder


GENERATED_AT = datetime(2026, 12, 7, 9, 30, 5, tzinfo=ZoneInfo(TIMEZONE))


@pytest.fixture
def fixed_clock(monkeypatch):
    """One generation time for every report a test renders (the golden files state it)."""
    monkeypatch.setattr(pdf_format, "report_facts", partial(pdf_format.report_facts, now=GENERATED_AT))
