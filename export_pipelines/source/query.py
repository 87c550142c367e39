"""SQL for one export, built with SQLAlchemy Core from catalog names and bound values only.

``ExportQuery`` holds the validated pieces of a request (dataset, columns, filter conditions,
granted tenants, sort) and produces three statements: the count of matching and permitted rows,
and the keyset-paginated chunk query ``WHERE (sort, key) > (last sort, last key) LIMIT n``.
OFFSET is never used: its cost grows with the page number, keyset's does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from export_pipelines.request.catalog import ColumnSpec, DatasetSpec
from export_pipelines.source.values import bind_value

_SQL_TYPES = {
    "integer": lambda c: sa.BigInteger(),
    "float": lambda c: sa.Float(),
    "decimal": lambda c: sa.Numeric(c.precision, c.scale),
    "string": lambda c: sa.Text(),
    "boolean": lambda c: sa.Boolean(),
    "date": lambda c: sa.Date(),
    "timestamp": lambda c: sa.DateTime(timezone=True),
}


@dataclass(frozen=True)
class Condition:
    """A validated filter: catalog column, operator, and value(s) already converted to the column type."""

    column: str
    op: str
    value: Any = None

    def describe(self) -> str:
        """How the filter reads in reports and emails: ``amount ge 10.00``, ``status in paid, shipped``."""
        if self.value is None:
            return f"{self.column} {self.op}"
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        shown = ", ".join(v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values)
        return f"{self.column} {self.op} {shown}"


@dataclass(frozen=True)
class ExportQuery:
    """Everything needed to read one export's rows; small and picklable, so ops can pass it."""

    dataset: DatasetSpec
    columns: tuple[str, ...]
    conditions: tuple[Condition, ...]
    tenants: frozenset[str] | None  # None: every tenant is granted
    sort_column: str | None = None
    sort_descending: bool = False

    @property
    def fetched_columns(self) -> tuple[str, ...]:
        """Requested columns plus the pagination columns (key, sort), each once."""
        extra = [c for c in (self.sort_column, self.dataset.key) if c and c not in self.columns]
        return self.columns + tuple(dict.fromkeys(extra))

    def table(self) -> sa.TableClause:
        specs = self.dataset.columns.values()
        return sa.table(self.dataset.table, *(sa.column(c.name, _SQL_TYPES[c.type](c)) for c in specs))

    def _filters(self, table: sa.TableClause, dialect: str) -> list:
        columns = self.dataset.columns
        return [_condition_clause(table.c[c.column], columns[c.column], c, dialect) for c in self.conditions]

    def _tenant_clause(self, table: sa.TableClause):
        return table.c[self.dataset.tenant_column].in_(sorted(self.tenants))

    def count_statement(self, dialect: str) -> sa.Select:
        """Rows matching the filters, and among them the rows the user may see."""
        table = self.table()
        visible = sa.func.count() if self.tenants is None else sa.func.coalesce(
            sa.func.sum(sa.case((self._tenant_clause(table), 1), else_=0)), 0
        )
        counts = sa.select(sa.func.count().label("matching"), visible.label("visible")).select_from(table)
        return counts.where(*self._filters(table, dialect))

    def chunk_statement(self, dialect: str, limit: int, after: tuple | None) -> sa.Select:
        """The next ``limit`` permitted rows after the (sort value, key) pair ``after``."""
        table = self.table()
        key = table.c[self.dataset.key]
        where = self._filters(table, dialect)
        if self.tenants is not None:
            where.append(self._tenant_clause(table))
        if self.sort_column and self.sort_column != self.dataset.key:
            sort = table.c[self.sort_column]
            order = [(sort.desc() if self.sort_descending else sort.asc()).nulls_last(), key.asc()]
            if after is not None:
                where.append(self._after_sorted(sort, key, after, dialect))
        else:
            descending = self.sort_descending
            order = [key.desc() if descending else key.asc()]
            if after is not None:
                where.append(key < after[1] if descending else key > after[1])
        columns = [table.c[name] for name in self.fetched_columns]
        return sa.select(*columns).where(*where).order_by(*order).limit(limit)

    def _after_sorted(self, sort, key, after: tuple, dialect: str):
        # NULL sort values come last in both directions; within equal sort values the key ascends.
        last_sort, last_key = after
        if last_sort is None:
            return sa.and_(sort.is_(None), key > last_key)
        last_sort = bind_value(self.dataset.columns[self.sort_column], last_sort, dialect)
        beyond = sort < last_sort if self.sort_descending else sort > last_sort
        return sa.or_(beyond, sa.and_(sort == last_sort, key > last_key), sort.is_(None))


def _condition_clause(column, spec: ColumnSpec, condition: Condition, dialect: str):
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
    if op == "contains":
        return column.contains(value, autoescape=True)
    if op == "startswith":
        return column.startswith(value, autoescape=True)
    if op == "ne":
        return column.is_distinct_from(bound(value))
    comparisons = {"eq": "__eq__", "lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__"}
    return getattr(column, comparisons[op])(bound(value))
