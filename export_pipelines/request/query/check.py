"""Checking a request's filters, where and search against the catalog: the filter tree, typed.

Whatever form the conditions came in (``filters`` as a list or a tree, ``where`` as text), each is
checked here the same way: the column must be in the catalog, the operator must suit its type, and
the value is converted to the column's type or refused naming the field (and,
for ``where``, the column of the text). Relative dates are resolved to absolute ranges at ``now``.
The result is a tuple of nodes that must all hold; ``source.predicate`` turns it into one predicate.
The conversion of values, ``coerce``, is ``source.values.coerce_value``, passed in by ``validation``:
the request's folder does not reach up into the source's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from export_pipelines.datasets.catalog import ColumnSpec, DatasetSpec
from export_pipelines.datasets.filter_tree import Budget, Condition, Term, from_request, map_terms, top_level
from export_pipelines.datasets.search import check_search
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.limits import (
    MAX_FILTER_DEPTH_ENV,
    MAX_FILTERS_ENV,
    MAX_IN_VALUES_ENV,
    MAX_VALUE_LENGTH_ENV,
    MAX_WHERE_LENGTH_ENV,
    Limits,
)
from export_pipelines.request.model import FILTER_OPS, ExportRequest
from export_pipelines.request.query import relative_dates

_TEXT_OPS = ("contains", "startswith")
# (column, value, field, tz) -> the value as the column's Python type, or ExportRequestError naming field.
Coerce = Callable[[ColumnSpec, Any, str, ZoneInfo], Any]
_DATE_TYPES = ("date", "timestamp")


def check_filters(
    request: ExportRequest, dataset: DatasetSpec, tz: ZoneInfo, limits: Limits, now: datetime, coerce: Coerce
) -> tuple:
    """The request's conditions (filters and where and search, all of which must hold), checked and typed."""
    budget = Budget(limits.max_filters, limits.max_filter_depth)
    hint = (
        f"at most {limits.max_filters:,} conditions (filters and where together) in groups at most "
        f"{limits.max_filter_depth} deep; put alternatives into one in list, or ask an administrator to raise "
        f"{MAX_FILTERS_ENV} or {MAX_FILTER_DEPTH_ENV}"
    )
    trees = [from_request(request.filters, "filters", budget, hint)]
    if request.where is not None:
        if isinstance(request.where, str) and len(request.where) > limits.max_where_length:
            raise ExportRequestError(
                "where", f"{len(request.where):,} characters is over the limit of {limits.max_where_length:,}",
                f"shorter text; an administrator can raise {MAX_WHERE_LENGTH_ENV}",
            )
        # Imported here: Lark and the grammar cost every process that reads a request ~0.2 s otherwise.
        from export_pipelines.request.query.text import parse_where

        trees.append(parse_where(request.where, budget, hint))

    def check(term: Term) -> Condition:
        return check_condition(term, dataset, tz, limits, now, coerce)

    checked = [map_terms(tree, check) for tree in trees if tree is not None]
    length_hint = f"at most {limits.max_value_length:,} characters; an administrator can raise {MAX_VALUE_LENGTH_ENV}"
    search = check_search(request.search, dataset, limits.max_value_length, length_hint)
    return top_level([*checked, search])


def check_condition(
    term: Term, dataset: DatasetSpec, tz: ZoneInfo, limits: Limits, now: datetime, coerce: Coerce
) -> Condition:
    """One condition checked against the catalog; errors name ``term.where`` (``filters[2]``, ``where (column 9)``)."""
    where = term.where
    column = dataset.column(term.column, f"{where}.column" if where.startswith("filters") else where)
    op_field = f"{where}.op" if where.startswith("filters") else where
    field = f"{where}.value" if where.startswith("filters") else where
    op = term.op.lower() if isinstance(term.op, str) else term.op
    if op not in FILTER_OPS:
        raise ExportRequestError(op_field, f"unknown operator {term.op!r}", ", ".join(FILTER_OPS))
    value = term.value
    _refuse_nul(value, field)
    _cap_lengths(value, field, limits)
    if op in ("is_null", "not_null"):
        if value is not None:
            raise ExportRequestError(field, f"{op} takes no value", "leave value empty")
        return Condition(column.name, op)
    if op in _TEXT_OPS and column.type != "string":
        other_ops = ", ".join(o for o in FILTER_OPS if o not in _TEXT_OPS)
        raise ExportRequestError(op_field, f"{op} needs a text column; {column.name!r} is {column.type}", other_ops)
    if op == "within":
        return _within(column, value, field, op_field, tz, now)
    if op in ("in", "not_in"):
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        if not isinstance(value, (list, tuple)) or not value:
            raise ExportRequestError(field, f"{op} needs a non-empty list", "a list such as [a, b]")
        if len(value) > limits.max_in_values:
            raise ExportRequestError(
                field, f"{len(value):,} values is over the limit of {limits.max_in_values:,}",
                f"at most {limits.max_in_values:,} values per {op} list; split the export, "
                f"or ask an administrator to raise {MAX_IN_VALUES_ENV}",
            )
        return Condition(column.name, op, tuple(coerce(column, v, field, tz) for v in value))
    if op == "between":
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ExportRequestError(field, "between needs exactly two values", "[low, high]")
        return Condition(column.name, op, tuple(coerce(column, v, field, tz) for v in value))
    if value is None:
        raise ExportRequestError(field, f"{op} needs a value", "a value; use is_null to match missing values")
    return Condition(column.name, op, coerce(column, value, field, tz))


def _within(column, value, field: str, op_field: str, tz: ZoneInfo, now: datetime) -> Condition:
    """``within last 30 days``: the local days it means at ``now``, as a typed half-open range."""
    if column.type not in _DATE_TYPES:
        raise ExportRequestError(op_field, f"within needs a date or timestamp column; {column.name!r} is {column.type}")
    try:
        phrase = relative_dates.normalize(value)
    except ValueError as error:
        raise ExportRequestError(field, str(error), relative_dates.EXAMPLES) from None
    start, end = relative_dates.resolve(phrase, now, tz)
    if column.type == "timestamp":
        start, end = relative_dates.midnight(start, tz), relative_dates.midnight(end, tz)
    return Condition(column.name, "within", (start, end), f"{phrase} in {tz.key}")


def _refuse_nul(value: object, field: str) -> None:
    """A NUL byte is no character any source stores (PostgreSQL text refuses it): a bad request, not a query error."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    if any(isinstance(item, str) and "\x00" in item for item in items):
        raise ExportRequestError(field, "the value contains a NUL byte (\\x00)", "text without NUL bytes")


def _cap_lengths(value: object, field: str, limits: Limits) -> None:
    items = value if isinstance(value, (list, tuple)) else (value,)
    longest = max((len(item) for item in items if isinstance(item, str)), default=0)
    if longest > limits.max_value_length:
        raise ExportRequestError(
            field, f"a value of {longest:,} characters is over the limit of {limits.max_value_length:,}",
            f"at most {limits.max_value_length:,} characters per value; an administrator can raise "
            f"{MAX_VALUE_LENGTH_ENV}",
        )
