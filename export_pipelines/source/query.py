"""SQL for one export, built with SQLAlchemy Core from catalog names and bound values only.

``ExportQuery`` holds the validated pieces of a request (dataset, columns, the filter tree,
granted tenants, sort columns) and produces the count of matching and permitted rows, the
statement of every row in order (one COPY reads a whole export on PostgreSQL) and the
keyset-paginated chunk query ``WHERE (sort..., key) after (last sort values..., last key) LIMIT n``.
OFFSET is never used: its cost grows with the page number, keyset's does not.

Order: each sort column ascending or descending with NULLs last in both directions, then the key
ascending (unless the key itself is a sort column, which ends the order: it is unique).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from export_pipelines.datasets.catalog import DatasetSpec
from export_pipelines.datasets.filter_tree import Condition
from export_pipelines.source.predicate import predicate
from export_pipelines.source.values import bind_value

__all__ = ["Condition", "ExportQuery"]

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
class ExportQuery:
    """Everything needed to read one export's rows; small and picklable, so ops can pass it."""

    dataset: DatasetSpec
    columns: tuple[str, ...]
    conditions: tuple  # filter tree nodes (datasets.filter_tree), all of which must hold
    tenants: frozenset[str] | None  # None: every tenant is granted
    sort: tuple[tuple[str, bool], ...] = ()  # (column, descending); validation drops columns after the key
    # One reader's part of the export (source.read_ranges): values of the order's first column from ``low``
    # (inclusive) to ``high`` (exclusive), as text the column's type reads; None is open-ended, and the open
    # end that comes last in the order takes the column's NULLs.
    split_range: tuple[str | None, str | None] | None = None

    @property
    def order(self) -> tuple[tuple[str, bool], ...]:
        """The full order: the sort columns, then the key ascending unless the key is one of them."""
        names = [column for column, _ in self.sort]
        return self.sort if self.dataset.key in names else (*self.sort, (self.dataset.key, False))

    @property
    def fetched_columns(self) -> tuple[str, ...]:
        """Requested columns plus the pagination columns (sort columns, key), each once."""
        extra = [c for c, _ in self.order if c not in self.columns]
        return self.columns + tuple(dict.fromkeys(extra))

    def table(self) -> sa.TableClause:
        specs = self.dataset.columns.values()
        return sa.table(self.dataset.table, *(sa.column(c.name, _SQL_TYPES[c.type](c)) for c in specs))

    def _filters(self, table: sa.TableClause, dialect: str) -> list:
        return [predicate(node, table, self.dataset, dialect) for node in self.conditions]

    def _tenant_clause(self, table: sa.TableClause):
        return table.c[self.dataset.tenant_column].in_(sorted(self.tenants))

    def count_statement(self, dialect: str) -> sa.Select:
        """Rows matching the filters, and among them the rows the user may see."""
        table = self.table()
        visible = (
            sa.func.count()
            if self.tenants is None
            else sa.func.coalesce(sa.func.sum(sa.case((self._tenant_clause(table), 1), else_=0)), 0)
        )
        counts = sa.select(sa.func.count().label("matching"), visible.label("visible")).select_from(table)
        return counts.where(*self._filters(table, dialect))

    def chunk_statement(self, dialect: str, limit: int, after: tuple | None) -> sa.Select:
        """The next ``limit`` permitted rows after ``after``: the values of ``order``'s columns in the last row."""
        table = self.table()
        statement = self._ordered(table, dialect, [table.c[name] for name in self.fetched_columns])
        if after is not None:
            statement = statement.where(self._after(table, after, dialect))
        return statement.limit(limit)

    def rows_statement(self, dialect: str, select_list=None) -> sa.Select:
        """Every permitted row in ``order``, with no LIMIT: one statement reads a whole export.

        ``select_list(columns)``, given the table's columns by name, says what to select instead of
        the fetched columns (a server writing the output's own text selects that text).
        """
        table = self.table()
        columns = select_list(table.c) if select_list else [table.c[name] for name in self.fetched_columns]
        return self._ordered(table, dialect, columns)

    def _ordered(self, table: sa.TableClause, dialect: str, columns: list) -> sa.Select:
        where = self._filters(table, dialect)
        if self.tenants is not None:
            where.append(self._tenant_clause(table))
        key = self.dataset.key
        if self.split_range is not None:
            where.append(self._within_range(table))
        order = []
        for column, descending in self.order:
            expression = table.c[column].desc() if descending else table.c[column].asc()
            order.append(expression if column == key else expression.nulls_last())
        return sa.select(*columns).where(*where).order_by(*order)

    def _within_range(self, table: sa.TableClause):
        (name, descending), *_ = self.order
        column, (low, high) = table.c[name], self.split_range
        clauses = []
        if low is not None:
            clauses.append(column >= sa.cast(sa.literal(low, sa.Text()), column.type))
        if high is not None:
            clauses.append(column < sa.cast(sa.literal(high, sa.Text()), column.type))
        # The rows no comparison holds for, NULLs, go to the range that ends the order, where one statement
        # reads them: the top one, except a descending sort column's (NULLs last) and not the key's (NULLs first).
        last_end = low if descending and name != self.dataset.key else high
        if last_end is not None:
            return sa.and_(*clauses)
        return sa.or_(sa.and_(*clauses), column.is_(None)) if clauses else sa.true()

    def _after(self, table: sa.TableClause, after: tuple, dialect: str):
        """Rows strictly after ``after`` in ``order``, built from the last column outwards.

        After (v1, ..., key k): beyond v1, or NULL in column 1 (NULLs come last), or equal to v1 and
        after the rest. When v1 itself is NULL only NULLs of column 1 can follow, and only after the rest.
        """
        *sorted_columns, (key, key_descending) = self.order
        *values, last_key = after
        key_column = table.c[key]
        following = key_column < last_key if key_descending else key_column > last_key
        for (name, descending), value in zip(reversed(sorted_columns), reversed(values)):
            column = table.c[name]
            if value is None:
                following = sa.and_(column.is_(None), following)
                continue
            # A literal of the column's type: SQLAlchemy refuses a bare True/False beside < and >.
            value = sa.literal(bind_value(self.dataset.columns[name], value, dialect), column.type)
            beyond = column < value if descending else column > value
            following = sa.or_(beyond, column.is_(None), sa.and_(column == value, following))
        return following
