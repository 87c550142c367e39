"""Checking a request against the catalog, the grants and the limits, and turning it into a plan.

Every rejection names the request field and what would be accepted, and happens before a single
row is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from export_pipelines.errors import ExportRequestError, RowLimitExceeded
from export_pipelines.formats import Renderer, renderer_class
from export_pipelines.formats.compression import SUFFIXES, check_compression, choose_compression
from export_pipelines.request.catalog import Catalog, DatasetSpec
from export_pipelines.request.limits import (
    COLUMN_CEILING,
    MAX_COLUMNS_ENV,
    MAX_FILTERS_ENV,
    MAX_IN_VALUES_ENV,
    MAX_TITLE_LENGTH_ENV,
    Limits,
)
from export_pipelines.request.model import COMPRESSIONS, FILTER_OPS, ExportRequest, FilterSpec
from export_pipelines.request.permissions import granted_tenants
from export_pipelines.request.plan import ExportPlan
from export_pipelines.request.recipients import check_recipients
from export_pipelines.source.query import Condition, ExportQuery
from export_pipelines.source.values import coerce_value

_USER = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
_TEXT_OPS = ("contains", "startswith")
MAX_CHUNK_SIZE = 1_000_000


@dataclass(frozen=True)
class CheckedRequest:
    """A request whose every field was checked against the catalog and the limits; no database was asked."""

    request: ExportRequest
    dataset: DatasetSpec
    columns: tuple[str, ...]
    conditions: tuple[Condition, ...]
    sort_column: str | None
    descending: bool
    renderer: type[Renderer]


def check_request(request: ExportRequest, catalog: Catalog) -> CheckedRequest:
    """Check every field of ``request`` that needs no database; raise ExportRequestError naming the field.

    The submission gate calls this before a run is queued, and ``plan_export`` again when it runs.
    """
    if not _USER.match(request.user or ""):
        raise ExportRequestError("user", f"{request.user!r} is not a valid user name", "letters, digits and ._@+-")
    dataset = catalog.dataset(request.dataset)
    limits = Limits.from_env()
    _check_sizes(request, dataset, limits)
    tz = _timezone(request.timezone)
    columns = _columns(request, dataset)
    conditions = tuple(_condition(f, i, dataset, tz, limits) for i, f in enumerate(request.filters))
    sort_column, descending = request.sort_column()
    if sort_column is not None:
        dataset.column(sort_column, "sort")
    renderer = renderer_class(request.format)
    settings = renderer.check_options(request.format_options)
    renderer.check_columns(settings, tuple(dataset.columns[name] for name in columns))
    if request.compression not in COMPRESSIONS:
        raise ExportRequestError("compression", f"{request.compression!r} is not valid", ", ".join(COMPRESSIONS))
    check_compression(request.compression, renderer)
    if not 1 <= request.chunk_size <= MAX_CHUNK_SIZE:
        raise ExportRequestError("chunk_size", f"{request.chunk_size} is out of range", f"1 to {MAX_CHUNK_SIZE:,}")
    check_recipients(request.recipients)
    return CheckedRequest(request, dataset, columns, conditions, sort_column, descending, renderer)


def plan_export(request: ExportRequest, catalog: Catalog, connection: sa.Connection, max_rows: int) -> ExportPlan:
    """Validate ``request`` and count its rows; raise a PermanentExportError subclass if it cannot run."""
    checked = check_request(request, catalog)
    dataset, columns, renderer = checked.dataset, checked.columns, checked.renderer
    tenants = granted_tenants(connection, catalog, request.user, dataset.name)
    query = ExportQuery(dataset, columns, checked.conditions, tenants, checked.sort_column, checked.descending)
    matching, visible = connection.execute(query.count_statement(connection.dialect.name)).one()
    if visible > max_rows:
        raise RowLimitExceeded(
            f"the export would have {visible:,} rows, over the limit of {max_rows:,}; "
            "add filters or ask an administrator to raise EXPORT_MAX_ROWS"
        )
    format_cap = getattr(renderer, "max_rows", None)
    if format_cap is not None and visible > format_cap:
        raise ExportRequestError(
            "format", f"{request.format} holds at most {format_cap:,} rows; this export has {visible:,}",
            "add filters, or use csv, jsonl, xlsx or parquet",
        )
    # auto is decided here, from the row count; render_file reads the choice back from the extension.
    compression = choose_compression(request.compression, renderer, (dataset.columns[n] for n in columns), visible)
    return ExportPlan(
        request=request,
        query=query,
        output_columns=tuple(dataset.columns[name] for name in columns),
        title=request.title or dataset.title,
        file_extension=renderer.extension + SUFFIXES[compression],
        compression=compression,
        matching_rows=int(matching),
        visible_rows=int(visible),
    )


def _check_sizes(request: ExportRequest, dataset: DatasetSpec, limits: Limits) -> None:
    """Refuse oversized requests before looking at a single item of them."""
    if len(request.filters) > limits.max_filters:
        raise ExportRequestError(
            "filters", f"{len(request.filters):,} filters is over the limit of {limits.max_filters:,}",
            f"at most {limits.max_filters:,} filters; put alternatives into one in filter, "
            f"or ask an administrator to raise {MAX_FILTERS_ENV}",
        )
    cap = limits.column_limit(len(dataset.column_names))
    count = len(request.columns) or len(dataset.column_names)
    if count > cap:
        raise ExportRequestError(
            "columns", f"{count:,} columns is over the limit of {cap:,}",
            f"at most {cap:,} columns, each once; an administrator can set {MAX_COLUMNS_ENV} "
            f"(up to {COLUMN_CEILING})",
        )
    if request.title is not None and len(request.title) > limits.max_title_length:
        raise ExportRequestError(
            "title", f"the title is {len(request.title):,} characters long",
            f"at most {limits.max_title_length:,} characters; an administrator can change {MAX_TITLE_LENGTH_ENV}",
        )


def _timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExportRequestError(
            "timezone", f"{name!r} is not a known time zone", "IANA names such as UTC, Europe/Berlin"
        ) from None


def _columns(request: ExportRequest, dataset: DatasetSpec) -> tuple[str, ...]:
    if not request.columns:
        return tuple(dataset.column_names)
    for index, name in enumerate(request.columns):
        dataset.column(name, f"columns[{index}]")
    if len(set(request.columns)) != len(request.columns):
        raise ExportRequestError("columns", "a column is listed twice", "each column once")
    return tuple(request.columns)


def _condition(spec: FilterSpec, index: int, dataset: DatasetSpec, tz: ZoneInfo, limits: Limits) -> Condition:
    where = f"filters[{index}]"
    column = dataset.column(spec.column, f"{where}.column")
    if spec.op not in FILTER_OPS:
        raise ExportRequestError(f"{where}.op", f"unknown operator {spec.op!r}", ", ".join(FILTER_OPS))
    field = f"{where}.value"
    value = spec.value
    _refuse_nul(value, field)
    if spec.op in ("is_null", "not_null"):
        if value is not None:
            raise ExportRequestError(field, f"{spec.op} takes no value", "leave value empty")
        return Condition(column.name, spec.op)
    if spec.op in _TEXT_OPS and column.type != "string":
        other_ops = ", ".join(op for op in FILTER_OPS if op not in _TEXT_OPS)
        raise ExportRequestError(
            f"{where}.op", f"{spec.op} needs a text column; {column.name!r} is {column.type}", other_ops
        )
    if spec.op in ("in", "not_in"):
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        if not isinstance(value, (list, tuple)) or not value:
            raise ExportRequestError(field, f"{spec.op} needs a non-empty list", "a list such as [a, b]")
        if len(value) > limits.max_in_values:
            raise ExportRequestError(
                field, f"{len(value):,} values is over the limit of {limits.max_in_values:,}",
                f"at most {limits.max_in_values:,} values per {spec.op} list; split the export, "
                f"or ask an administrator to raise {MAX_IN_VALUES_ENV}",
            )
        return Condition(column.name, spec.op, tuple(coerce_value(column, v, field, tz) for v in value))
    if spec.op == "between":
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ExportRequestError(field, "between needs exactly two values", "[low, high]")
        return Condition(column.name, spec.op, tuple(coerce_value(column, v, field, tz) for v in value))
    if value is None:
        raise ExportRequestError(field, f"{spec.op} needs a value", "a value; use is_null to match missing values")
    return Condition(column.name, spec.op, coerce_value(column, value, field, tz))


def _refuse_nul(value: object, field: str) -> None:
    """A NUL byte is no character any source stores (PostgreSQL text refuses it): a bad request, not a query error."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    if any(isinstance(item, str) and "\x00" in item for item in items):
        raise ExportRequestError(field, "the value contains a NUL byte (\\x00)", "text without NUL bytes")
