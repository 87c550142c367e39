"""A highlight marks exactly the rows its condition would keep as a filter: Arrow masks against the
reference evaluation the databases are tested against (NULLs, negations, relative dates, text)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.reports.highlight import cell_styles, holds
from export_pipelines_tests.display.rendered import display_for
from export_pipelines_tests.query.reference import matches

COLUMNS = tuple(load_catalog().dataset("orders").columns.values())
CONDITIONS = [
    "amount > 1000 and status in (paid, shipped)",
    "not (note = '') or note is null",
    "note != 'x' and discount_rate <= 0.1",
    "not (shipped_on between 2024-01-01 and 2024-06-30)",
    "customer_name contains 'ü' or customer_name startswith \"O'\"",
    "created_at within last 12 months or quantity not in (1, 2, 3)",
    "is_paid = false or (amount >= 0.01 and amount < 100)",
]  # fmt: skip


@pytest.mark.parametrize("when", CONDITIONS)
def test_a_highlight_holds_where_the_filter_would(source, when):
    _, rows = source
    table = pa.Table.from_pylist(rows, schema=pa.schema(pa.field(c.name, c.arrow_type) for c in COLUMNS))
    table = table.cast(pa.schema(pa.field(c.name, pa.timestamp("us", tz="Europe/Berlin") if c.type == "timestamp"
                                          else c.arrow_type) for c in COLUMNS))  # fmt: skip
    display = display_for("pdf", highlight=[{"when": when, "bold": True}],
                          relative_to=datetime(2025, 6, 15, tzinfo=UTC).isoformat())  # fmt: skip
    [highlight] = display.highlights

    marked = holds(highlight.condition, table).to_pylist()

    assert marked == [matches(highlight.condition, row) for row in rows]
    assert 0 < sum(marked) < len(rows), "a condition that marks all or nothing proves little"


def test_the_first_rule_wins_where_two_set_the_same_thing():
    display = display_for("pdf", highlight=[
        {"when": "amount > 1000", "color": "#C00000"},
        {"when": "amount > 100", "color": "#0000FF", "bold": True, "columns": ["amount"]},
    ])  # fmt: skip
    table = pa.table({c.name: pa.array([None], c.arrow_type) for c in COLUMNS}).set_column(
        5, "amount", pa.array([5000], pa.decimal128(12, 2)))  # fmt: skip

    [cells] = cell_styles(table, COLUMNS, display.highlights)

    assert cells[5].color == "#C00000" and cells[5].bold  # the first's colour, the second's bold
    assert cells[0].color == "#C00000" and not cells[0].bold
