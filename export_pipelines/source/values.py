"""Turning request values into typed Python values for a column, and typed values into bind values.

Filter values arrive as whatever YAML, JSON or a command line produced ("100", 100, "2024-05-01").
They are converted to the column's logical type here, with an error that names the filter and
the expected form, and are then bound as query parameters.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.errors import ExportRequestError

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_EXPECTED = {
    "integer": "a whole number",
    "float": "a number",
    "decimal": "a decimal number such as 12.50",
    "string": "text",
    "boolean": "true or false",
    "date": "an ISO date such as 2024-05-31",
    "timestamp": "an ISO timestamp such as 2024-05-31T12:00:00+02:00 (no offset: the request's time zone)",
}


def coerce_value(column: ColumnSpec, value, field: str, tz: ZoneInfo):
    """Convert ``value`` to the Python type of ``column``; naive timestamps are read in ``tz``."""
    try:
        converted = _CONVERTERS[column.type](value, tz)
    except (TypeError, ValueError, InvalidOperation, ArithmeticError):
        converted = None
    if converted is None:
        raise ExportRequestError(
            field, f"{value!r} is not valid for {column.type} column {column.name!r}", _EXPECTED[column.type]
        )
    return converted


_BIGINT = range(-(2**63), 2**63)


def _integer(value, _tz):
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
    # Beyond BIGINT the drivers fail at query time (OverflowError, DataError) instead of naming the field.
    return number if number in _BIGINT else None


def _float(value, _tz):
    if isinstance(value, bool):
        return None
    number = float(value)
    # NaN compares differently per dialect (SQLite binds it as NULL, PostgreSQL sorts it above every number).
    return number if math.isfinite(number) else None


def _decimal(value, _tz):
    if isinstance(value, bool):
        return None
    number = Decimal(str(value).strip())
    return number if number.is_finite() else None


def _string(value, _tz):
    return value if isinstance(value, str) else (str(value) if isinstance(value, (int, float, Decimal)) else None)


def _boolean(value, _tz):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _date(value, _tz):
    if isinstance(value, datetime):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value).strip())


def _timestamp(value, tz):
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


_CONVERTERS = {
    "integer": _integer,
    "float": _float,
    "decimal": _decimal,
    "string": _string,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
}


def bind_value(column: ColumnSpec, value, dialect_name: str):
    """Adapt a typed value to how the dialect stores it: SQLite keeps timestamps as naive UTC text."""
    if column.type == "timestamp" and value is not None and dialect_name == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
