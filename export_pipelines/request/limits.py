"""How big a request may be: every cap validation enforces, in one place, overridable by environment.

Each cap keeps one request from costing the deployment more than it should: a thousand filters
(conditions counted in ``filters`` and ``where`` together, in groups nested at most
``max_filter_depth`` deep) or a hundred-thousand-value ``in`` list become a query plan nobody can run, and a title or a
column list that long becomes a file nobody can read. The limits are read when a request is
validated (``Limits.from_env()``), never at import time, so an operator can change them without
reinstalling and tests can set them per test. A value that is not a positive whole number is a
deployment mistake and is reported naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from export_pipelines.errors import SettingsError

MAX_RECIPIENTS_ENV = "EXPORT_MAX_RECIPIENTS"
MAX_FILTERS_ENV = "EXPORT_MAX_FILTERS"
MAX_IN_VALUES_ENV = "EXPORT_MAX_IN_VALUES"
MAX_COLUMNS_ENV = "EXPORT_MAX_COLUMNS"
MAX_TITLE_LENGTH_ENV = "EXPORT_MAX_TITLE_LENGTH"
MAX_FILTER_DEPTH_ENV = "EXPORT_MAX_FILTER_DEPTH"
MAX_VALUE_LENGTH_ENV = "EXPORT_MAX_VALUE_LENGTH"
MAX_WHERE_LENGTH_ENV = "EXPORT_MAX_WHERE_LENGTH"
MAX_SORT_COLUMNS_ENV = "EXPORT_MAX_SORT_COLUMNS"
MAX_STRING_BYTES_ENV = "EXPORT_MAX_STRING_BYTES"
MAX_REQUEST_BYTES_ENV = "EXPORT_MAX_REQUEST_BYTES"
DEFAULT_MAX_RECIPIENTS = 20
DEFAULT_MAX_FILTERS = 50
DEFAULT_MAX_IN_VALUES = 1_000
DEFAULT_MAX_TITLE_LENGTH = 200
DEFAULT_MAX_FILTER_DEPTH = 8  # all/any/not groups inside each other
DEFAULT_MAX_VALUE_LENGTH = 1_000  # characters of one text value (filters, where, search)
DEFAULT_MAX_WHERE_LENGTH = 10_000  # characters of the text form of filters
DEFAULT_MAX_SORT_COLUMNS = 5
# Bytes (UTF-8) of any one string of a request (a filter value, the sort, the time zone, an address...) and
# of the whole request as JSON: a 5 MiB filter value is bound into every chunk's query, stored in the run's
# config and tags, and shown in the UI; the largest legitimate ones (an address, a name) are far shorter.
DEFAULT_MAX_STRING_BYTES = 4_096
DEFAULT_MAX_REQUEST_BYTES = 1 << 20
# Past this many columns no format is readable (and XLSX/PDF layouts degrade long before).
COLUMN_CEILING = 500
# Filter trees are walked recursively once checked; no one writes groups 64 deep on purpose.
FILTER_DEPTH_CEILING = 64


@dataclass(frozen=True)
class Limits:
    """The caps one request is checked against; ``max_columns`` None means the dataset's column count."""

    max_recipients: int = DEFAULT_MAX_RECIPIENTS
    max_filters: int = DEFAULT_MAX_FILTERS
    max_in_values: int = DEFAULT_MAX_IN_VALUES
    max_title_length: int = DEFAULT_MAX_TITLE_LENGTH
    max_columns: int | None = None
    max_filter_depth: int = DEFAULT_MAX_FILTER_DEPTH
    max_value_length: int = DEFAULT_MAX_VALUE_LENGTH
    max_where_length: int = DEFAULT_MAX_WHERE_LENGTH
    max_sort_columns: int = DEFAULT_MAX_SORT_COLUMNS
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The defaults, each replaced by its environment variable when that is set and not empty."""
        max_columns = _positive_int(environ, MAX_COLUMNS_ENV, None)
        if max_columns is not None and max_columns > COLUMN_CEILING:
            raise SettingsError(f"{MAX_COLUMNS_ENV}={max_columns} is over the ceiling of {COLUMN_CEILING} columns")
        depth = _positive_int(environ, MAX_FILTER_DEPTH_ENV, DEFAULT_MAX_FILTER_DEPTH)
        if depth > FILTER_DEPTH_CEILING:
            raise SettingsError(f"{MAX_FILTER_DEPTH_ENV}={depth} is over the ceiling of {FILTER_DEPTH_CEILING} levels")
        return cls(
            max_recipients=_positive_int(environ, MAX_RECIPIENTS_ENV, DEFAULT_MAX_RECIPIENTS),
            max_filters=_positive_int(environ, MAX_FILTERS_ENV, DEFAULT_MAX_FILTERS),
            max_in_values=_positive_int(environ, MAX_IN_VALUES_ENV, DEFAULT_MAX_IN_VALUES),
            max_title_length=_positive_int(environ, MAX_TITLE_LENGTH_ENV, DEFAULT_MAX_TITLE_LENGTH),
            max_columns=max_columns,
            max_filter_depth=depth,
            max_value_length=_positive_int(environ, MAX_VALUE_LENGTH_ENV, DEFAULT_MAX_VALUE_LENGTH),
            max_where_length=_positive_int(environ, MAX_WHERE_LENGTH_ENV, DEFAULT_MAX_WHERE_LENGTH),
            max_sort_columns=_positive_int(environ, MAX_SORT_COLUMNS_ENV, DEFAULT_MAX_SORT_COLUMNS),
            max_string_bytes=_positive_int(environ, MAX_STRING_BYTES_ENV, DEFAULT_MAX_STRING_BYTES),
            max_request_bytes=_positive_int(environ, MAX_REQUEST_BYTES_ENV, DEFAULT_MAX_REQUEST_BYTES),
        )

    def column_limit(self, catalog_columns: int) -> int:
        """The column cap for a dataset: ``$EXPORT_MAX_COLUMNS``, else its column count; never over 500."""
        return min(self.max_columns or catalog_columns, COLUMN_CEILING)


def _positive_int(environ: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} must be a whole number of 1 or more")
    return int(raw)
