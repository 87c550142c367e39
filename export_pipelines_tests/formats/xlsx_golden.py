"""Excel golden cases: rows, options and display rules whose workbooks were written by the XlsxWriter renderer.

``golden/xlsx-<case>.xlsx`` are those workbooks, made once by the XlsxWriter-based renderer (commit
335d220) with ``python -m export_pipelines_tests.formats.xlsx_golden``; ``test_xlsx_golden`` renders
each case again and compares everything openpyxl reads (cell values, types, styles, layout, properties).
"""

from __future__ import annotations

import io
import random
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.demo.values import Customer, customer_count, customer_rows, order_rows
from export_pipelines.formats import RenderContext, renderer_class
from export_pipelines_tests.formats.samples import COLUMNS, NAMES, ROWS, shaped_table

GOLDEN = Path(__file__).parent / "golden"
DEMO_ROWS = 1_500
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC")
RULES = {
    "locale": "de-DE",
    "formats": {"amount": {"number": "currency", "currency": "EUR", "decimals": 2, "align": "right"},
                "created_at": {"datetime": "dd.MM.yyyy HH:mm"}},
    "highlight": [{"when": "amount > 1000", "bold": True, "color": "#C00000"}],
}  # fmt: skip
HOSTILE_TEXTS = [
    "=1+1", "@x", "+1", "-1", "", "=HYPERLINK(\"http://evil.example\",\"x\")", "Zoë Ångström 李小龙 🚀",
    "tab\tnew\nline\rreturn", "".join(map(chr, range(32))), "_x0041_ stays literal", "\ufffe\uffff",
    " leading", "trailing ", "\xa0nbsp\u3000", "a & b < c > d \"q\" 'a'", "é" * 32_767, "x" * 5_000 + "\n" + "y" * 70,
    "]]><!--", "\u2028line\u2029",
]  # fmt: skip
HOSTILE_FLOATS = [0.1 + 0.2, 1e15, 1.5e15, 9_999_999_999_999_998.0, 1e16, 1e-5, 1e-7, -0.0, 5e-324,
                  1.7976931348623157e308, float("nan"), float("inf"), float("-inf"), 2.0 / 3, None]  # fmt: skip


def demo_rows(count: int = DEMO_ROWS) -> list[dict]:
    """The first ``count`` demo orders (every pinned awkward value, then seeded random ones)."""
    rng = random.Random(42)
    directory = [Customer.from_row(row) for row in customer_rows(customer_count(count), rng)]
    return [dict(zip(NAMES, row)) for row in order_rows(count, rng, directory)]


def hostile_rows() -> list[dict]:
    base = ROWS[0]
    rows = []
    for n, text in enumerate(HOSTILE_TEXTS + [None]):
        rows.append({**base, "order_id": 1000 + n, "customer_name": text, "note": text,
                     "discount_rate": HOSTILE_FLOATS[n % len(HOSTILE_FLOATS)],
                     "is_paid": [True, False, None][n % 3],
                     "amount": [Decimal("-0.01"), Decimal("9999999.99"), Decimal("0.00"), None][n % 4],
                     "created_at": datetime(2024, 3, 31, 0, 59, 59, 999_999, tzinfo=UTC).replace(hour=n % 24),
                     "shipped_on": [date(1900, 3, 1), date(1899, 12, 31), date(9999, 12, 31), None][n % 4],
                     })  # fmt: skip
    return rows


WIDE = (
    ColumnSpec("id", "integer", "ID"),
    ColumnSpec("price", "decimal", "Price", precision=20, scale=2),
    ColumnSpec("ratio", "float", "Ratio"),
    ColumnSpec("day", "date", "Day"),
    ColumnSpec("at", "timestamp", "At"),
)
WIDE_ROWS = [
    {"id": 10**15 + 1, "price": Decimal("123456789012345.67"), "ratio": 1e15, "day": date(1899, 12, 31),
     "at": datetime(1899, 1, 1, tzinfo=UTC)},
    {"id": 10**15 - 1, "price": Decimal("1234567890123.45"), "ratio": -1.5e15, "day": date(1900, 3, 1),
     "at": datetime(1900, 3, 1, 12, tzinfo=UTC)},
    {"id": -(10**15), "price": Decimal("-999999999999999.99"), "ratio": 123456789012345.6, "day": date(1, 1, 1),
     "at": datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)},
    {"id": -(2**63), "price": None, "ratio": None, "day": None, "at": None},
]  # fmt: skip


def cases() -> dict[str, dict]:
    """Case name -> what to render: Arrow chunks, options, columns, time zone, display fields."""
    demo = demo_rows()
    found = {
        "demo": {"rows": demo, "chunk": 400},
        "demo-split": {"rows": demo[:95], "chunk": 7, "options": {"max_rows_per_sheet": 10}},
        "demo-options": {"rows": demo[:300], "chunk": 128,
                         "options": {"formula_guard": False, "header_style": "name", "date_format": "dd/mm/yyyy",
                                     "timestamp_format": "yyyy-mm-dd hh:mm"}},
        "demo-rules": {"rows": demo[:400], "chunk": 150, "display": RULES, "options": {"max_rows_per_sheet": 250}},
        "empty": {"rows": [], "chunk": 1},
        "wide": {"rows": WIDE_ROWS, "chunk": 3, "columns": WIDE},
    }  # fmt: skip
    for zone in ZONES:
        found[f"hostile-{zone.replace('/', '-')}"] = {"rows": hostile_rows(), "chunk": 6, "timezone": zone}
    return found


def render_case(case: dict) -> bytes:
    """The workbook of ``case``, rendered chunk by chunk as render_file does."""
    columns, zone = case.get("columns", COLUMNS), case.get("timezone", "Europe/Berlin")
    options = dict(case.get("options", {}))
    display = {"display": _display(options, case["display"], zone)} if case.get("display") else {}
    context = RenderContext(columns, options, "Orders: Q4 [draft]", zone, **display)
    table = shaped_table(case["rows"], columns, zone)
    output = io.BytesIO()
    renderer = renderer_class("xlsx")(output, context)
    for start in range(0, table.num_rows, case["chunk"]):
        renderer.write(table.slice(start, case["chunk"]))
    if not table.num_rows:
        renderer.write(pa.Table.from_pylist([], schema=table.schema))
    renderer.close()
    return output.getvalue()


def _display(options: dict, fields: dict, zone: str):
    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.request.model import ExportRequest
    from export_pipelines.request.validation import check_request

    request = ExportRequest(user="admin", dataset="orders", format="xlsx", format_options=options, timezone=zone,
                            **fields)  # fmt: skip
    return check_request(request, load_catalog()).display


def reading(data: bytes) -> dict:
    """Everything openpyxl reads from a workbook that a user of the file could see or compute with."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    props = book.properties
    found = {
        "properties": (props.title, props.description, props.created, props.creator),
        "custom": {prop.name: prop.value for prop in book.custom_doc_props.props},
        "names": sorted((name, str(value.attr_text)) for name, value in book.defined_names.items()),
        "sheets": [],
    }
    for sheet in book.worksheets:
        cells = [
            (c.coordinate, c.data_type, c.value, type(c.value).__name__, c.number_format, c.font.b, c.font.color
             and c.font.color.rgb, c.quotePrefix, c.alignment.horizontal)
            for row in sheet.iter_rows() for c in row if c.value is not None or c.has_style
        ]  # fmt: skip
        rules = [(str(r.sqref), [(x.type, x.formula, x.dxf.font.b if x.dxf and x.dxf.font else None) for x in r.rules])
                 for r in sheet.conditional_formatting]  # fmt: skip
        found["sheets"].append({
            "title": sheet.title, "freeze": sheet.freeze_panes, "filter": sheet.auto_filter.ref,
            "dimensions": sheet.dimensions, "max": (sheet.max_row, sheet.max_column),
            "widths": {k: (d.width, d.customWidth) for k, d in sorted(sheet.column_dimensions.items())},
            "cells": cells, "rules": rules, "selected": sheet.sheet_view.tabSelected,
        })  # fmt: skip
    return found


def golden_path(name: str) -> Path:
    return GOLDEN / f"xlsx-{name}.xlsx"


if __name__ == "__main__":  # regenerate: only against the XlsxWriter renderer these files stand for
    GOLDEN.mkdir(exist_ok=True)
    for case_name, case_fields in cases().items():
        golden_path(case_name).write_bytes(render_case(case_fields))
        print(case_name, golden_path(case_name).stat().st_size, file=sys.stderr)
