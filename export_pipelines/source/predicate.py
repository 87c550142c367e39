"""One SQL predicate from a checked filter tree, built once with SQLAlchemy Core for every statement.

The count, every keyset chunk and the PostgreSQL COPY path all use this predicate; columns come
from the catalog and every value is a bound parameter (COPY has psycopg quote each one).

NULLs: a condition on a NULL value does not hold, except ``ne`` and ``not_in``, which keep the
row (a row with no value is "not equal" to any value, as always). ``not`` is two-valued: it holds
exactly when its item does not, so ``not (note eq x)`` keeps rows whose note is NULL, as
``note ne x`` does; SQL's three-valued NOT would drop them.
"""

from __future__ import annotations

import sqlalchemy as sa

from export_pipelines.datasets.catalog import ColumnSpec, DatasetSpec
from export_pipelines.datasets.filter_tree import Condition, Group, Not
from export_pipelines.datasets.search import Search, search_clause
from export_pipelines.source.values import bind_value


def predicate(node, table: sa.TableClause, dataset: DatasetSpec, dialect: str):
    """The SQL expression that holds for exactly the rows ``node`` keeps."""
    if isinstance(node, Condition):
        return condition_clause(table.c[node.column], dataset.columns[node.column], node, dialect)
    if isinstance(node, Search):
        return search_clause(node, table, dialect)
    if isinstance(node, Not):
        inner = predicate(node.item, table, dataset, dialect)
        return sa.not_(sa.func.coalesce(inner, sa.false()))
    if isinstance(node, Group):
        items = [predicate(item, table, dataset, dialect) for item in node.items]
        if node.kind == "all":
            return sa.and_(sa.true(), *items)
        return sa.or_(sa.false(), *items)
    raise TypeError(f"not a filter node: {node!r}")


def condition_clause(column, spec: ColumnSpec, condition: Condition, dialect: str):
    def bound(value):
        return bind_value(spec, value, dialect)

    op, value = condition.op, condition.value
    if op in ("is_null", "not_null"):
        return column.is_(None) if op == "is_null" else column.is_not(None)
    if op in ("in", "not_in"):
        values = [bound(v) for v in value]
        # Negative filters keep NULLs: a row with no value is "not in" any list.
        return column.in_(values) if op == "in" else sa.or_(column.not_in(values), column.is_(None))
    if op == "between":
        return column.between(bound(value[0]), bound(value[1]))
    if op == "within":  # a resolved relative date: [start, end)
        return sa.and_(column >= bound(value[0]), column < bound(value[1]))
    if op == "contains":
        return column.contains(value, autoescape=True)
    if op == "startswith":
        return column.startswith(value, autoescape=True)
    if op == "ne":
        return column.is_distinct_from(bound(value))
    comparisons = {"eq": "__eq__", "lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__"}
    return getattr(column, comparisons[op])(bound(value))
