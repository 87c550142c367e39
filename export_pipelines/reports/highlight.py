"""Which cells of a chunk a report highlights, and how: the checked conditions evaluated with Arrow kernels.

A condition means here what it means as a filter (``source.predicate``): on a NULL value it does not
hold, except ``ne`` and ``not_in``; ``not`` is two-valued. Rules are taken in order and an earlier rule
wins where two set the same thing (a colour), as Excel does with the same rules.
"""

from __future__ import annotations

from functools import reduce

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.datasets.filter_tree import Condition, Group, Not
from export_pipelines.display.styles import Highlight, HighlightStyle

_COMPARE = {"eq": pc.equal, "ne": pc.not_equal, "lt": pc.less, "le": pc.less_equal, "gt": pc.greater,
            "ge": pc.greater_equal}  # fmt: skip


def holds(node, table: pa.Table) -> pa.Array:
    """True for each row of ``table`` where the checked filter tree ``node`` holds (never NULL)."""
    if isinstance(node, Not):
        return pc.invert(holds(node.item, table))
    if isinstance(node, Group):
        if not node.items:
            return pa.array([node.kind == "all"] * table.num_rows, pa.bool_())
        return reduce(pc.and_ if node.kind == "all" else pc.or_, (holds(item, table) for item in node.items))
    return _condition(node, table.column(node.column).combine_chunks())


def _condition(condition: Condition, array: pa.Array) -> pa.Array:
    op, value = condition.op, condition.value

    def scalar(item):
        return pa.scalar(item, array.type) if not pa.types.is_decimal(array.type) else pa.scalar(item)

    if op == "is_null":
        return pc.is_null(array)
    if op == "not_null":
        return pc.is_valid(array)
    if op in ("in", "not_in"):
        found = pc.is_in(array, value_set=pa.array([scalar(v).as_py() for v in value], scalar(value[0]).type))
        return pc.fill_null(found, False) if op == "in" else pc.invert(pc.fill_null(found, False))
    if op == "contains":
        result = pc.match_substring(array, pattern=value)
    elif op == "startswith":
        result = pc.starts_with(array, pattern=value)
    elif op in ("between", "within"):
        upper = pc.less_equal if op == "between" else pc.less
        result = pc.and_(pc.greater_equal(array, scalar(value[0])), upper(array, scalar(value[1])))
    else:
        result = _COMPARE[op](array, scalar(value))
    return pc.fill_null(result, op == "ne")


def cell_styles(table: pa.Table, columns: tuple[ColumnSpec, ...], highlights: tuple[Highlight, ...]) -> list | None:
    """Per row: None, or one HighlightStyle (or None) per column; None for the whole chunk without highlights."""
    if not highlights:
        return None
    names = [column.name for column in columns]
    rules = [
        (holds(h.condition, table).to_pylist(), h.style, [names.index(n) for n in h.columns] or range(len(names)))
        for h in highlights
    ]
    rows = []
    for row in range(table.num_rows):
        cells = None
        for matched, style, targets in rules:
            if matched[row]:
                cells = cells or [None] * len(names)
                for index in targets:
                    cells[index] = _under(cells[index], style)
        rows.append(cells)
    return rows


def _under(first: HighlightStyle | None, later: HighlightStyle) -> HighlightStyle:
    """``first`` with what it leaves unset taken from ``later``."""
    if first is None:
        return later
    return HighlightStyle(first.bold or later.bold, first.italic or later.italic, first.color or later.color,
                          first.background or later.background)  # fmt: skip
