"""The filter tree and the order of an export evaluated in Python: what the databases must agree with.

``matches`` is two-valued like ``query.sql``: a condition on NULL does not hold (except ``ne`` and
``not_in``), and ``not`` holds exactly when its item does not.
"""

from __future__ import annotations

from export_pipelines.datasets.filter_tree import Condition, Group, Not
from export_pipelines.datasets.search import Search
from export_pipelines.source.engine import source_connection
from export_pipelines.source.fetch import keyset_chunks
from export_pipelines.source.query import ExportQuery

OPS = {
    "eq": lambda v, x: v is not None and v == x,
    "ne": lambda v, x: v is None or v != x,
    "lt": lambda v, x: v is not None and v < x,
    "le": lambda v, x: v is not None and v <= x,
    "gt": lambda v, x: v is not None and v > x,
    "ge": lambda v, x: v is not None and v >= x,
    "in": lambda v, x: v in x,
    "not_in": lambda v, x: v is None or v not in x,
    "contains": lambda v, x: v is not None and x in v,
    "startswith": lambda v, x: v is not None and v.startswith(x),
    "between": lambda v, x: v is not None and x[0] <= v <= x[1],
    "within": lambda v, x: v is not None and x[0] <= v < x[1],
    "is_null": lambda v, x: v is None,
    "not_null": lambda v, x: v is not None,
}


def matches(node, row: dict) -> bool:
    if isinstance(node, Condition):
        return OPS[node.op](row[node.column], node.value)
    if isinstance(node, Search):
        text = node.text.lower()
        return any(row[c] is not None and text in row[c].lower() for c in node.columns)
    if isinstance(node, Not):
        return not matches(node.item, row)
    if isinstance(node, Group):
        results = (matches(item, row) for item in node.items)
        return all(results) if node.kind == "all" else any(results)
    raise TypeError(node)


def expected_keys(rows: list[dict], query: ExportQuery) -> list[int]:
    """Filter and tenant scope, then order: each sort column with NULLs last, ties by the key ascending."""
    key = query.dataset.key
    kept = [
        row
        for row in sorted(rows, key=lambda r: r[key])
        if all(matches(node, row) for node in query.conditions)
        and (query.tenants is None or row[query.dataset.tenant_column] in query.tenants)
    ]
    for column, descending in reversed(query.order):  # stable sorts, last column first
        present = sorted((r for r in kept if r[column] is not None), key=lambda r: r[column], reverse=descending)
        kept = present + [r for r in kept if r[column] is None]
    return [row[key] for row in kept]


def paginate(url: str, query: ExportQuery, size: int) -> tuple[list, int]:
    """Every chunk as collect_chunks reads it (COPY on PostgreSQL), and the visible count."""
    with source_connection(url) as connection:
        tables = list(keyset_chunks(connection, query, size))
        _, visible = connection.execute(query.count_statement(connection.dialect.name)).one()
    return tables, visible


def keys_of(tables, key: str = "order_id") -> list[int]:
    return [value for table in tables for value in table.column(key).to_pylist()]
