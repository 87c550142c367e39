"""Hard rows for the format tests, shaped the way ``transform_chunk`` hands them to a renderer.

Column specs and Arrow types come from the packaged catalog; timestamps are converted to a
non-UTC zone (Europe/Berlin, +01:00 in winter and +02:00 in summer) as ``shape_table`` does.
``render`` writes through real local storage and ``compressed``, exactly as ``render_file`` does,
so a renderer that closes its stream or seeks in it fails here as it would in a run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from export_pipelines.datasets.catalog import ColumnSpec, load_catalog
from export_pipelines.formats import RenderContext, renderer_class
from export_pipelines.formats.compression import compressed
from export_pipelines.storage import StoredFile, storage_from_url

TIMEZONE = "Europe/Berlin"
COLUMNS: tuple[ColumnSpec, ...] = tuple(load_catalog().dataset("orders").columns.values())
NAMES = [column.name for column in COLUMNS]
LABELS = [column.label for column in COLUMNS]

ROWS = [
    {
        "order_id": 1, "tenant_id": "acme", "customer_id": 101, "customer_name": 'Müller, "Hans"\nGmbH',
        "status": "paid", "amount": Decimal("1234.50"), "currency": "EUR", "quantity": 2,
        "discount_rate": 0.125, "is_paid": True, "created_at": datetime(2024, 1, 15, 12, 0, tzinfo=UTC),
        "shipped_on": date(2024, 1, 20), "note": None,
    },
    {
        "order_id": 2, "tenant_id": "globex", "customer_id": 102, "customer_name": "Zoë Ångström 李小龙 🚀",
        "status": "pending", "amount": Decimal("0.00"), "currency": "JPY", "quantity": 1,
        "discount_rate": None, "is_paid": False, "created_at": datetime(2024, 7, 1, 8, 30, 0, 123456, tzinfo=UTC),
        "shipped_on": None, "note": "",
    },
    {
        "order_id": 3, "tenant_id": "initech", "customer_id": 103, "customer_name": "Smith, Jones & Co.",
        "status": "shipped", "amount": Decimal("9999999.99"), "currency": "USD", "quantity": 500,
        "discount_rate": 0.0, "is_paid": True, "created_at": datetime(2024, 10, 27, 0, 30, 0, 500000, tzinfo=UTC),
        "shipped_on": date(2024, 10, 28), "note": "line one\r\nline two",
    },
    {
        "order_id": 4, "tenant_id": "hooli", "customer_id": 104, "customer_name": "=1+2",
        "status": "refunded", "amount": Decimal("0.01"), "currency": "GBP", "quantity": 3,
        "discount_rate": 0.1, "is_paid": True, "created_at": datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
        "shipped_on": None, "note": 'He said "urgent", twice',
    },
]  # fmt: skip
# The UTC offsets Europe/Berlin has at each row's instant (CET, CEST, CEST on the fall-back night, CEST).
OFFSETS = ["+01:00", "+02:00", "+02:00", "+02:00"]


def shaped_schema(columns: tuple[ColumnSpec, ...] = COLUMNS, timezone: str = TIMEZONE) -> pa.Schema:
    return pa.schema(
        pa.field(c.name, pa.timestamp("us", tz=timezone) if c.type == "timestamp" else c.arrow_type) for c in columns
    )


def shaped_table(rows: list[dict], columns: tuple[ColumnSpec, ...] = COLUMNS, timezone: str = TIMEZONE) -> pa.Table:
    """Rows typed by the catalog (timestamps UTC, as staged), then converted to ``timezone``."""
    staged = pa.schema(pa.field(c.name, c.arrow_type) for c in columns)
    table = pa.Table.from_pylist([{c.name: row[c.name] for c in columns} for row in rows], schema=staged)
    return table.cast(shaped_schema(columns, timezone))


def chunks(*bounds: int) -> list[pa.Table]:
    """ROWS cut at ``bounds``: chunks(2) is two chunks of two rows."""
    edges = [0, *bounds, len(ROWS)]
    return [shaped_table(ROWS[start:end]) for start, end in zip(edges, edges[1:])]


def render_stored(
    folder: Path,
    format_name: str,
    tables: list[pa.Table],
    options: dict | None = None,
    compression: str = "none",
    columns: tuple[ColumnSpec, ...] = COLUMNS,
) -> tuple[bytes, StoredFile]:
    """Render ``tables`` one ``write`` each, then ``close``; return the stored bytes and the write result."""
    storage = storage_from_url(str(folder))
    key = f"rendered/{uuid.uuid4().hex}"
    context = RenderContext(columns, dict(options or {}), "Orders", TIMEZONE)
    with storage.open_write(key) as output:
        with compressed(output.stream, compression) as stream:
            renderer = renderer_class(format_name)(stream, context)
            for table in tables:
                renderer.write(table)
            renderer.close()
            assert not stream.closed, f"{format_name}: close() must leave the stream open"
    with storage.open_read(key) as stored:
        return stored.read(), output.result


def render(folder: Path, format_name: str, tables: list[pa.Table], **kwargs) -> bytes:
    return render_stored(folder, format_name, tables, **kwargs)[0]
