"""rustpy-xlsxwriter, tried as the xlsx renderer's engine: its fastest writer, and how its file differs.

``rustpy-xlsxwriter`` (MIT, Rust's rust_xlsxwriter behind a Python API) writes a sheet from anything
with ``__arrow_c_stream__``, one record batch at a time, in constant memory. It is not a project
dependency: it was measured and rejected (benchmarks/README.md says why); install it by hand to
repeat the figures (``.venv/bin/uv pip install rustpy-xlsxwriter==0.8.0``).

``write_rustpy`` gives it every advantage: the columns it cannot type itself are converted first,
vectorised, as the renderer converts them (decimals through their exact text to doubles, dates and
timestamps to Excel serial numbers with the renderer's number formats; it would drop decimals and
cut timestamps to the second), and the whole export goes in as one stream of batches.

``differences`` reads two workbooks back with openpyxl and lists what a reader sees differently:
sheets, header text and boldness, frozen panes, autofilter ranges, column widths, the time-zone
property, and per cell its type, value, number format and quote prefix.
"""

from __future__ import annotations

import io
import itertools
from collections import Counter

EPOCH_SERIAL = 25_569  # 1970-01-01 in Excel's 1900 date system
NUMBER_FORMATS = {"integer": "0", "date": "yyyy-mm-dd", "timestamp": "yyyy-mm-dd hh:mm:ss.000"}


def excel_columns(table, columns):
    """``table`` with the columns rustpy-xlsxwriter cannot write as the renderer does made into doubles."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for column, array in zip(columns, table.columns):
        if column.type == "decimal":
            array = array.cast(pa.string()).cast(pa.float64())
        elif column.type == "date":
            array = pc.add(array.cast(pa.int32()).cast(pa.float64()), float(EPOCH_SERIAL))
        elif column.type == "timestamp":
            local = pc.local_timestamp(array)
            millis = pc.floor_temporal(local, unit="millisecond").cast(pa.timestamp("ms")).cast(pa.int64())
            array = pc.add(pc.divide(millis.cast(pa.float64()), 86_400_000.0), float(EPOCH_SERIAL))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=[c.label for c in columns])


def number_format(column) -> str | None:
    if column.type == "decimal":
        return "#,##0" + ("." + "0" * column.scale if column.scale > 0 else "")
    return NUMBER_FORMATS.get(column.type)


def write_rustpy(tables, columns, output: str, timezone: str, widths=None) -> int:
    """The export as one rustpy-xlsxwriter sheet: bold frozen header, autofilter, number formats, widths."""
    import pyarrow as pa
    import rustpy_xlsxwriter as rx

    rows = 0
    remaining = iter(tables)
    first = next(remaining)
    schema = excel_columns(first.slice(0, 0), columns).schema

    def batches():
        nonlocal rows
        for table in itertools.chain([first], remaining):  # one chunk at a time, never all
            converted = excel_columns(table, columns)
            rows += converted.num_rows
            yield from converted.to_batches()

    formats = [rx.Format().set_num_format(code) if code else rx.Format() for code in map(number_format, columns)]
    rx.write_worksheet(
        pa.RecordBatchReader.from_batches(schema, batches()),
        output,
        sheet_name="Orders",
        freeze_row=1,
        freeze_col=0,
        header_format=rx.Format().set_bold(),
        autofilter=True,
        column_formats=formats,
        column_widths=widths or [max(len(c.label) + 4.0, 12.0) for c in columns],
    )
    return rows


def workbook_facts(data: bytes) -> dict:
    """Everything a reader sees in an exported workbook, read back with openpyxl."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data))
    props = {prop.name: prop.value for prop in book.custom_doc_props}
    facts = {
        "sheets": book.sheetnames,
        "time zone property": props.get("Time zone"),
        "title": book.properties.title,
        "created": book.properties.created,
        "per sheet": [],
        "cells": [],
    }
    for sheet in book.worksheets:
        header = next(sheet.iter_rows(max_row=1))
        facts["per sheet"].append(
            {
                "header": [c.value for c in header],
                "bold": [bool(c.font.b) for c in header],
                "frozen": sheet.freeze_panes,
                "autofilter": sheet.auto_filter.ref,
                "widths": _widths(sheet),
            }
        )
        for cells in sheet.iter_rows(min_row=2):
            facts["cells"].append([_cell(c) for c in cells])
    return facts


def _widths(sheet) -> dict[int, float]:
    """Width by column number: openpyxl groups neighbours of one width (min..max) under one letter."""
    return {
        number: round(dimension.width, 2)
        for dimension in sheet.column_dimensions.values()
        if dimension.customWidth
        for number in range(dimension.min, dimension.max + 1)
    }


def _cell(cell) -> tuple:
    date_format = cell.number_format if cell.is_date else None
    return (cell.data_type, cell.value, date_format, bool(cell.quotePrefix))


def differences(expected: bytes, actual: bytes, names: list[str]) -> dict[str, object]:
    """What differs between two workbooks of the same rows: counts by kind, with one example each."""
    want, got = workbook_facts(expected), workbook_facts(actual)
    found: dict[str, object] = {}
    for key in ("sheets", "time zone property", "title", "created"):
        if want[key] != got[key]:
            found[key] = (want[key], got[key])
    for number, (a, b) in enumerate(zip(want["per sheet"], got["per sheet"]), start=1):
        for key in a:
            if a[key] != b[key]:
                found[f"sheet {number} {key}"] = (a[key], b[key])
    kinds: Counter = Counter()
    examples: dict[str, tuple] = {}
    if len(want["cells"]) != len(got["cells"]):
        found["data rows"] = (len(want["cells"]), len(got["cells"]))
    for a_row, b_row in zip(want["cells"], got["cells"]):
        for name, a, b in zip(names, a_row, b_row):
            for aspect, x, y in zip(("type", "value", "date format", "quote prefix"), a, b):
                if x != y and not (aspect == "value" and _same_number(x, y)):
                    kind = f"{name}: {aspect}"
                    kinds[kind] += 1
                    examples.setdefault(kind, (a, b))
    for kind, count in sorted(kinds.items()):
        found[f"cells {kind}"] = f"{count:,} cells, e.g. {examples[kind][0]!r} -> {examples[kind][1]!r}"
    return found


def _same_number(x, y) -> bool:
    """1 and 1.0 are one number: openpyxl reads '1' as int and '1.0' as float, Excel sees no difference."""
    numbers = (int, float)
    return isinstance(x, numbers) and isinstance(y, numbers) and not isinstance(x, bool) and x == y


def probe(rows: str, timezone: str, write_renderer, chunks) -> dict:
    """The renderer's and rustpy's workbooks of the first ``rows`` demo orders, and what differs."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from bench_support import stage_orders

    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.formats.xlsx_layout import ColumnWidths, header_text

    with tempfile.TemporaryDirectory(prefix="xlsx-probe-") as folder:
        staged = str(Path(folder) / "orders.arrow")
        stage_orders(staged, int(rows), 500, timezone)
        columns = tuple(load_catalog().dataset("orders").columns.values())
        today, candidate = Path(folder) / "today.xlsx", Path(folder) / "rustpy.xlsx"
        write_renderer(chunks(staged, 1), columns, str(today), timezone)
        settings = {"date_format": "yyyy-mm-dd", "timestamp_format": "yyyy-mm-dd hh:mm:ss.000"}
        widths = ColumnWidths(columns, [header_text(c, "label", timezone) for c in columns], settings)
        for table in chunks(staged, 1):
            widths.sample(table)
        labelled = tuple(dataclasses.replace(c, label=header_text(c, "label", timezone)) for c in columns)
        write_rustpy(chunks(staged, 1), labelled, str(candidate), timezone, [round(w, 1) for w in widths.final()])
        found = differences(today.read_bytes(), candidate.read_bytes(), [c.name for c in columns])
    return {"rows": int(rows), "differences": {k: str(v) for k, v in found.items()}}


def print_probe(probe: dict | None) -> None:
    if probe is None:
        return
    print(f"\nrustpy vs the renderer on the first {probe['rows']:,} demo rows, as openpyxl reads them:")
    for what, difference in probe["differences"].items():
        print(f"  {what}: {difference}")
    if not probe["differences"]:
        print("  no difference")
