"""Excel files read back with openpyxl: cell types and values, layout, sheet splits, formula guard, a real run."""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from openpyxl.utils.escape import unescape

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.demo.seed import orders, seed_demo
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines.formats.xlsx_layout import sheet_name
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.exported import run_decrypted
from export_pipelines_tests.formats.samples import COLUMNS, LABELS, NAMES, ROWS, TIMEZONE, render, shaped_table

BERLIN = ZoneInfo(TIMEZONE)
HEADERS = [f"{c.label} ({TIMEZONE})" if c.type == "timestamp" else c.label for c in COLUMNS]
FORMULA_LIKE = ["=1+2", '=HYPERLINK("http://evil.example","click")', "+49 Trading GmbH", "-5% agreed", "@sales"]


def order(order_id: int, **values) -> dict:
    """An ordinary order row, with ``values`` replacing some of its columns."""
    row = {
        "order_id": order_id, "tenant_id": "acme", "customer_id": 100 + order_id,
        "customer_name": f"Customer {order_id}", "status": "paid", "amount": Decimal("19.99"),
        "currency": "EUR", "quantity": 1, "discount_rate": 0.5, "is_paid": True,
        "created_at": datetime(2024, 5, 31, 12, 0, tzinfo=UTC), "shipped_on": date(2024, 6, 1), "note": "ok",
    }  # fmt: skip
    return {**row, **values}


# Besides the shared sample rows: formula triggers, control characters, instants at the edges of
# a millisecond, a year and both of Europe's clock changes, a negative amount.
HARD_ROWS = ROWS + [
    order(5, customer_name=FORMULA_LIKE[1], note="tab\tand \x01 control", amount=Decimal("-0.01"),
          created_at=datetime(2023, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
    order(6, customer_name="+49 Trading GmbH", note="x_x000D_y is literal", discount_rate=None, is_paid=False,
          created_at=datetime(2024, 3, 31, 1, 30, 0, 1, tzinfo=UTC), shipped_on=None),
    order(7, customer_name="  Padded  ", note="-5% agreed", amount=Decimal("1000000.10"),
          created_at=datetime(2024, 2, 29, 12, 34, 56, 789_012, tzinfo=UTC)),
]  # fmt: skip


def workbook(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def data_rows(sheet) -> list[tuple]:
    return list(sheet.iter_rows(min_row=2))


def wall_clock(instant: datetime) -> datetime:
    """What the cell must hold: the Berlin wall-clock time, cut to Excel's millisecond."""
    local = instant.astimezone(BERLIN).replace(tzinfo=None)
    return local.replace(microsecond=local.microsecond // 1000 * 1000)


def assert_cell(cell, column: ColumnSpec, value) -> None:
    where = (column.name, cell.coordinate)
    if value is None:
        assert cell.value is None, where  # NULL is no cell at all
    elif column.type == "string":
        assert cell.data_type == "s", where
        # openpyxl leaves the OOXML escapes of inline strings (_x000D_ for \r) to the reader; Excel decodes them.
        assert unescape(cell.value) == value, where
    elif column.type == "decimal":
        assert Decimal(str(cell.value)) == value and cell.number_format == "#,##0.00", where
    elif column.type == "boolean":
        assert cell.data_type == "b" and cell.value is value, where
    elif column.type == "timestamp":
        assert cell.is_date and cell.value == wall_clock(value), where
        assert cell.number_format == "yyyy-mm-dd hh:mm:ss.000", where
    elif column.type == "date":
        assert cell.is_date and cell.value == datetime.combine(value, time()), where
        assert cell.number_format == "yyyy-mm-dd", where
    else:
        assert cell.data_type == "n" and cell.value == value, where


def test_hard_values_round_trip_with_their_types(tmp_path):
    tables = [shaped_table(HARD_ROWS[:2]), shaped_table(HARD_ROWS[2:5]), shaped_table(HARD_ROWS[5:])]
    book = workbook(render(tmp_path, "xlsx", tables))

    (sheet,) = book.worksheets
    rows = data_rows(sheet)
    assert len(rows) == len(HARD_ROWS)
    for cells, row in zip(rows, HARD_ROWS):
        for cell, column in zip(cells, COLUMNS):
            assert_cell(cell, column, row[column.name])
    notes = [cells[NAMES.index("note")].value for cells in rows]
    assert notes[:2] == [None, ""], "NULL is no cell, the empty string an empty text cell"


def test_header_is_bold_frozen_and_filtered_and_names_the_time_zone(tmp_path):
    book = workbook(render(tmp_path, "xlsx", [shaped_table(HARD_ROWS)]))

    sheet = book.active
    header = next(sheet.iter_rows(max_row=1))
    assert [cell.value for cell in header] == HEADERS
    assert "Created at (Europe/Berlin)" in HEADERS
    assert all(cell.font.b for cell in header)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:M{len(HARD_ROWS) + 1}"
    assert book.custom_doc_props["Time zone"].value == TIMEZONE
    widths = {letter: dimension.width for letter, dimension in sheet.column_dimensions.items()}
    assert widths["K"] > widths["J"], "the timestamp column is wider than the boolean one"
    assert widths["D"] >= len(FORMULA_LIKE[1]) and max(widths.values()) <= 62


def test_header_style_name_writes_column_names(tmp_path):
    book = workbook(render(tmp_path, "xlsx", [shaped_table(ROWS)], options={"header_style": "name"}))

    assert [cell.value for cell in next(book.active.iter_rows(max_row=1))] == NAMES


@pytest.mark.parametrize("rows, sheets", [(25, 3), (20, 2), (0, 1)])
def test_rows_beyond_the_sheet_limit_continue_on_new_sheets(tmp_path, rows, sheets):
    table = shaped_table([order(n) for n in range(1, rows + 1)])
    tables = [table.slice(start, 7) for start in range(0, rows, 7)]  # chunks that straddle the sheet ends
    book = workbook(render(tmp_path, "xlsx", tables, options={"max_rows_per_sheet": 10}))

    assert book.sheetnames == ["Orders", "Orders (2)", "Orders (3)"][:sheets]
    ids = []
    for sheet in book.worksheets:
        assert [cell.value for cell in next(sheet.iter_rows(max_row=1))] == HEADERS
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:M{sheet.max_row}"
        body = [cells[0].value for cells in data_rows(sheet)]
        assert len(body) <= 10
        ids += body
    assert ids == list(range(1, rows + 1)), "no row lost, repeated or moved"


@pytest.mark.parametrize("guard", [True, False])
def test_formula_like_text_is_stored_as_text(tmp_path, guard):
    rows = [order(n, customer_name=text, note=text) for n, text in enumerate(FORMULA_LIKE + ["plain"], start=1)]
    data = render(tmp_path, "xlsx", [shaped_table(rows)], options={"formula_guard": guard})

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
    for cells, row in zip(data_rows(workbook(data).active), rows):
        for cell in (cells[NAMES.index("customer_name")], cells[NAMES.index("note")]):
            assert cell.data_type == "s" and cell.value == row["note"]
            # The quote prefix keeps Excel from making a formula when someone edits the cell.
            assert cell.quotePrefix == (guard and row["note"] != "plain")


def test_values_excel_would_change_are_written_as_exact_text(tmp_path):
    columns = (
        ColumnSpec("id", "integer", "ID"),
        ColumnSpec("price", "decimal", "Price", precision=20, scale=2),
        ColumnSpec("ratio", "float", "Ratio"),
        ColumnSpec("day", "date", "Day"),
    )
    rows = [
        {"id": 10**15 + 1, "price": Decimal("123456789012345.67"), "ratio": float("nan"), "day": date(1899, 12, 31)},
        {"id": 10**15 - 1, "price": Decimal("1234567890123.45"), "ratio": float("inf"), "day": date(1900, 3, 1)},
    ]
    data = render(tmp_path, "xlsx", [shaped_table(rows, columns)], columns=columns)

    first, second = data_rows(workbook(data).active)
    assert [(c.data_type, c.value) for c in first] == [
        ("s", "1000000000000001"), ("s", "123456789012345.67"), ("n", None), ("s", "1899-12-31")
    ]  # fmt: skip
    assert second[0].value == 10**15 - 1 and Decimal(str(second[1].value)) == Decimal("1234567890123.45")
    assert second[2].value is None and second[3].value == datetime(1900, 3, 1)


def test_text_too_long_for_a_cell_fails_rather_than_being_cut(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the row data waits until close
    fits = "é" * 32_767
    assert workbook(render(tmp_path, "xlsx", [shaped_table([order(1, note=fits)])])).active["M2"].value == fits

    too_long = "🚀" * 16_384  # 32,768 UTF-16 units, as Excel counts
    with pytest.raises(ExportRequestError) as refused:
        render(tmp_path, "xlsx", [shaped_table([order(1, note=too_long)])])
    assert refused.value.field == "format" and "'note'" in str(refused.value)
    assert not list(scratch.iterdir()), "no temporary row data is left behind, after success or failure"


@pytest.mark.parametrize(
    "title, number, expected",
    [
        ("Orders", 1, "Orders"),
        ("Orders", 2, "Orders (2)"),
        ("Q4: [draft] a/b\\c*?", 1, "Q4 draft a b c"),
        ("'quoted'", 1, "quoted"),
        ("", 1, "Export"),
        ("history", 1, "History export"),
        ("A" * 40, 1, "A" * 31),
        ("A" * 40, 12, "A" * 26 + " (12)"),
        ("🚀" * 20, 1, "🚀" * 15),  # an emoji is two of Excel's 31 units
    ],
)
def test_sheet_names_follow_excel_rules(title, number, expected):
    assert sheet_name(title, number) == expected


@pytest.mark.parametrize(
    "name, value",
    [
        ("max_rows_per_sheet", 0),
        ("max_rows_per_sheet", 1_048_576),
        ("max_rows_per_sheet", "10"),
        ("max_rows_per_sheet", True),
        ("formula_guard", "yes"),
        ("header_style", "title"),
        ("timestamp_format", "0.00"),
        ("date_format", ""),
    ],
)
def test_invalid_options_are_refused_by_name(name, value):
    with pytest.raises(ExportRequestError) as refused:
        renderer_class("xlsx").check_options({name: value})
    assert refused.value.field == f"format_options.{name}"


# ---- a whole export_job run --------------------------------------------------------------------

SEED_ROWS = 250


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('xlsx-source') / 'demo.sqlite'}"
    seed_demo(url, rows=SEED_ROWS)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.select(orders).order_by(orders.c.order_id))]
    engine.dispose()
    for row in rows:  # SQLite hands back naive UTC
        row["created_at"] = row["created_at"].replace(tzinfo=UTC)
    return url, rows


def test_export_job_writes_an_xlsx_that_matches_the_source(seeded_sqlite, dagster_home, tmp_path, monkeypatch):
    url, source_rows = seeded_sqlite
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXPORT_STORAGE_URL", raising=False)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    request = ExportRequest(
        user="admin", dataset="orders", format="xlsx", timezone=TIMEZONE, chunk_size=60,
        title="Orders: Q4/2024 [draft]", format_options={"max_rows_per_sheet": 100},
    )  # fmt: skip

    record, location = run_decrypted(request, DagsterInstance.get(), tmp_path)

    assert record.status == "SUCCESS", record.error
    assert location.endswith(".xlsx") and record.rows == SEED_ROWS
    with open(location, "rb") as handle:
        book = workbook(handle.read())
    assert book.sheetnames == ["Orders Q4 2024 draft", "Orders Q4 2024 draft (2)", "Orders Q4 2024 draft (3)"]
    rows = [cells for sheet in book.worksheets for cells in data_rows(sheet)]
    assert [len(data_rows(sheet)) for sheet in book.worksheets] == [100, 100, 50]
    assert [cells[0].value for cells in rows] == [row["order_id"] for row in source_rows]
    for cells, row in zip(rows, source_rows):
        for cell, column in zip(cells, COLUMNS):
            assert_cell(cell, column, row[column.name])
    assert LABELS[0] == book.active["A1"].value
