"""Checking a request against the catalog, the grants and the limits, and turning it into a plan.

Every rejection names the request field and what would be accepted, and happens before a single
row is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from export_pipelines.datasets.catalog import Catalog, DatasetSpec
from export_pipelines.display.styles import NO_RULES, DisplayRules
from export_pipelines.errors import ExportRequestError, RowLimitExceeded
from export_pipelines.formats import Renderer, renderer_class
from export_pipelines.formats.compression import SUFFIXES, check_compression, choose_compression
from export_pipelines.request.formatting.check import check_display
from export_pipelines.request.limits import (
    COLUMN_CEILING,
    MAX_COLUMNS_ENV,
    MAX_FILTERS_ENV,
    MAX_REQUEST_BYTES_ENV,
    MAX_SORT_COLUMNS_ENV,
    MAX_STRING_BYTES_ENV,
    MAX_TITLE_LENGTH_ENV,
    Limits,
)
from export_pipelines.request.model import COMPRESSIONS, ExportRequest
from export_pipelines.request.permissions import granted_tenants
from export_pipelines.request.plan import ExportPlan
from export_pipelines.request.query.check import check_filters
from export_pipelines.request.recipients import check_recipients
from export_pipelines.source.query import ExportQuery
from export_pipelines.source.values import coerce_value

_USER = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
MAX_CHUNK_SIZE = 1_000_000


@dataclass(frozen=True)
class CheckedRequest:
    """A request whose every field was checked against the catalog and the limits; no database was asked."""

    request: ExportRequest
    dataset: DatasetSpec
    columns: tuple[str, ...]
    conditions: tuple  # filter tree nodes (datasets.filter_tree, datasets.search), all of which must hold
    sort: tuple[tuple[str, bool], ...]  # (column, descending), in order
    renderer: type[Renderer]
    now: datetime  # the moment relative dates were resolved at
    display: DisplayRules = NO_RULES


def check_request(request: ExportRequest, catalog: Catalog, now: datetime | None = None) -> CheckedRequest:
    """Check every field of ``request`` that needs no database; raise ExportRequestError naming the field.

    The submission gate calls this before a run is queued, and ``plan_export`` again when it runs:
    relative dates are resolved at ``request.relative_to``, else at ``now`` (default: this moment).
    """
    limits = Limits.from_env()
    _check_bytes(request, limits)  # first: no other check reads (or quotes) an oversized value
    if not _USER.match(request.user or ""):
        raise ExportRequestError("user", f"{request.user!r} is not a valid user name", "letters, digits and ._@+-")
    dataset = catalog.dataset(request.dataset)
    _check_sizes(request, dataset, limits)
    tz = _timezone(request.timezone)
    columns = _columns(request, dataset)
    now = _relative_to(request, now)
    conditions = check_filters(request, dataset, tz, limits, now, coerce_value)
    sort = _sort(request, dataset, limits)
    renderer = renderer_class(request.format)
    renderer.check_requester(request.format_options, request.user)  # before a template is looked for
    settings = renderer.check_options(request.format_options)
    renderer.check_columns(settings, tuple(dataset.columns[name] for name in columns))
    display = check_display(request, dataset, columns, renderer.display_layer(settings), tz, now, limits, coerce_value)
    if request.compression not in COMPRESSIONS:
        raise ExportRequestError("compression", f"{request.compression!r} is not valid", ", ".join(COMPRESSIONS))
    check_compression(request.compression, renderer)
    if not 1 <= request.chunk_size <= MAX_CHUNK_SIZE:
        raise ExportRequestError("chunk_size", f"{request.chunk_size} is out of range", f"1 to {MAX_CHUNK_SIZE:,}")
    check_recipients(request.recipients)
    return CheckedRequest(request, dataset, columns, conditions, sort, renderer, now, display)


def plan_export(
    request: ExportRequest, catalog: Catalog, connection: sa.Connection, max_rows: int, now: datetime | None = None
) -> ExportPlan:
    """Validate ``request`` and count its rows; raise a PermanentExportError subclass if it cannot run."""
    checked = check_request(request, catalog, now)
    dataset, columns, renderer = checked.dataset, checked.columns, checked.renderer
    tenants = granted_tenants(connection, catalog, request.user, dataset.name)
    query = ExportQuery(dataset, columns, checked.conditions, tenants, checked.sort)
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
        resolved_at=checked.now,
        display=checked.display,
    )


def _check_bytes(request: ExportRequest, limits: Limits) -> None:
    """Every string of the request, then the whole request (as JSON), within their byte caps (UTF-8)."""
    dumped = request.model_dump(mode="json")
    for where, text in _strings(dumped):
        if where == "where":  # the text form of filters has its own cap, EXPORT_MAX_WHERE_LENGTH
            continue
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limits.max_string_bytes:
            raise ExportRequestError(
                where, f"{size:,} bytes is over the limit of {limits.max_string_bytes:,} bytes for one value",
                f"at most {limits.max_string_bytes:,} bytes (UTF-8) per value; an administrator can change "
                f"{MAX_STRING_BYTES_ENV}",
            )
    size = len(json.dumps(dumped, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > limits.max_request_bytes:
        raise ExportRequestError(
            "request", f"the request takes {size:,} bytes, over the limit of {limits.max_request_bytes:,} bytes",
            f"at most {limits.max_request_bytes:,} bytes as JSON; split the export, or ask an administrator to "
            f"raise {MAX_REQUEST_BYTES_ENV}",
        )


def _strings(value, where: str = ""):
    """(path, text) of every string in a dumped request: ``filters[0].value[3]``, ``format_options.delimiter``."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, f"{where}.{name}" if where else str(name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def _check_sizes(request: ExportRequest, dataset: DatasetSpec, limits: Limits) -> None:
    """Refuse oversized requests before looking at a single item of them."""
    if isinstance(request.filters, list) and len(request.filters) > limits.max_filters:
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


def _relative_to(request: ExportRequest, now: datetime | None) -> datetime:
    """The moment relative dates mean: the request's ``relative_to`` (a subscription's tick), else ``now``."""
    if request.relative_to is None:
        return now or datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(request.relative_to)
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ExportRequestError(
            "relative_to", f"{request.relative_to!r} is not a timestamp with a UTC offset",
            "an ISO timestamp such as 2024-05-31T06:00:00+02:00, or leave it out (the run's start)",
        )
    return moment


def _sort(request: ExportRequest, dataset: DatasetSpec, limits: Limits) -> tuple[tuple[str, bool], ...]:
    """The sort columns, each once and in the catalog; those after the key change nothing and are dropped."""
    keys = request.sort_keys()
    if len(keys) > limits.max_sort_columns:
        raise ExportRequestError(
            "sort", f"{len(keys)} sort columns is over the limit of {limits.max_sort_columns}",
            f"at most {limits.max_sort_columns}; an administrator can raise {MAX_SORT_COLUMNS_ENV}",
        )
    for index, (column, _) in enumerate(keys):
        dataset.column(column, "sort" if len(keys) == 1 else f"sort[{index}]")
    names = [column for column, _ in keys]
    if len(set(names)) != len(names):
        raise ExportRequestError("sort", "a column is listed twice", "each column once")
    if dataset.key in names:
        keys = keys[: names.index(dataset.key) + 1]  # the key is unique: nothing after it can reorder rows
    return keys
