"""Rendering the sample rows with display rules checked exactly as a request's are."""

from __future__ import annotations

import io

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.formats import RenderContext, renderer_class
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request
from export_pipelines_tests.formats.samples import COLUMNS, TIMEZONE, chunks

RULES = {
    "locale": "de-DE",
    "formats": {
        "amount": {"number": "currency", "currency": "EUR", "decimals": 2, "label": "Betrag"},
        "created_at": {"datetime": "dd.MM.yyyy HH:mm"},
        "shipped_on": {"datetime": "d. MMMM y", "null": "offen"},
        "discount_rate": {"number": "percent", "decimals": 1},
        "status": {"align": "center"},
    },
    "highlight": [
        {"when": "amount > 1000", "bold": True, "color": "#C00000"},
        {"when": "status in (pending, refunded)", "background": "#FFF2CC", "columns": ["status"]},
    ],
}  # fmt: skip


def display_for(format_name: str, **fields):
    request = ExportRequest(user="analyst", dataset="orders", format=format_name, timezone=TIMEZONE, **fields)
    return check_request(request, load_catalog()).display


def render_with(format_name: str, options: dict | None = None, tables=None, **fields) -> bytes:
    """The sample rows (two chunks) rendered with the display rules of a request of ``fields``."""
    stream = io.BytesIO()
    context = RenderContext(COLUMNS, dict(options or {}), "Orders", TIMEZONE, export_id="run-1",
                            display=display_for(format_name, **fields))  # fmt: skip
    renderer = renderer_class(format_name)(stream, context)
    for table in chunks(2) if tables is None else tables:
        renderer.write(table)
    renderer.close()
    return stream.getvalue()
