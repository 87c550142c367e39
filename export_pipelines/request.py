"""The export request: one schema for the launchpad, GraphQL, schedules, sensors and the CLI.

Every launch path builds an ``ExportRequest`` and turns it into run config and run tags with the
same two methods, so a run looks the same in history whichever way it was started. The schema
only checks shapes; ``validate_request`` checks names and values against the catalog.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, get_args

from dagster import Config
from pydantic import Field

from export_pipelines.errors import ExportRequestError

# Choices are Literal types, so the launchpad offers them and flags a typo before a run is made.
FilterOp = Literal[
    "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in",
    "contains", "startswith", "between", "is_null", "not_null",
]  # fmt: skip
Compression = Literal["none", "gzip", "zip", "auto"]
# The formats of export_pipelines.formats (a test keeps the two equal): listed here rather than read
# from the registry, which would import every renderer (reportlab, XlsxWriter) wherever a request is read.
FormatName = Literal["csv", "json", "jsonl", "parquet", "pdf", "xlsx"]
FILTER_OPS: tuple[str, ...] = get_args(FilterOp)
COMPRESSIONS: tuple[str, ...] = get_args(Compression)
FORMATS: tuple[str, ...] = get_args(FormatName)
VALIDATE_OP = "validate_request"
TAG_USER = "export/user"
TAG_DATASET = "export/dataset"
TAG_FORMAT = "export/format"


class FilterSpec(Config):
    """One condition on one column; the value is bound as a query parameter, never spliced."""

    column: str = Field(description="A column of the dataset (see the catalog).")
    op: FilterOp = Field(description="How the column is compared with the value.")
    value: Any = Field(
        default=None,
        description="The value to compare with: a list for in / not_in, two items for between, "
        "nothing for is_null / not_null.",
    )


class ExportRequest(Config):
    """What to export, for whom, in which format, and who hears about it."""

    user: str = Field(description="The user the export runs as; their grants decide which rows are exported.")
    dataset: str = Field(description="A dataset of the catalog, for example 'orders'.")
    columns: list[str] = Field(
        default_factory=list, description="Columns in output order; empty means every catalog column."
    )
    filters: list[FilterSpec] = Field(default_factory=list, description="Conditions, all of which must hold.")
    sort: str | None = Field(
        default=None, description="'column' or 'column:desc'; rows are ordered by the dataset key otherwise."
    )
    format: FormatName = Field(default="csv", description="Output format.")
    format_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the chosen format (see the format's documentation)."
    )
    compression: Compression = Field(
        default="none",
        description="gzip adds .gz; zip gives a .zip holding the file; "
        "auto gzips text formats expected above EXPORT_AUTO_COMPRESS_BYTES (20 MB by default). "
        "Parquet is compressed inside: none or auto.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone timestamps are written in.")
    recipients: list[str] = Field(default_factory=list, description="Email addresses told when the file is ready.")
    title: str | None = Field(default=None, description="Title of the export; defaults to the dataset title.")
    chunk_size: int = Field(
        default=50_000, description="Rows per chunk: the unit of parallel work and of memory use."
    )

    def run_config(self) -> dict:
        """The run config that launches ``export_job`` with this request."""
        return {"ops": {VALIDATE_OP: {"config": self.model_dump()}}}

    def digest(self) -> str:
        """sha256 of the whole request, defaults filled in: equal for requests that export the same thing."""
        return canonical_digest(self.model_dump(mode="json"))

    def run_tags(self) -> dict[str, str]:
        """Tags every export run carries: who, what and how; the audit log filters on them."""
        return {TAG_USER: self.user, TAG_DATASET: self.dataset, TAG_FORMAT: self.format}

    def sort_column(self) -> tuple[str | None, bool]:
        """Return (column, descending) from ``sort``; (None, False) when unsorted."""
        if not self.sort:
            return None, False
        column, _, direction = self.sort.partition(":")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise ExportRequestError("sort", f"direction {direction!r} is not valid", "asc, desc")
        return column.strip(), direction == "desc"


def canonical_digest(value: Mapping[str, Any]) -> str:
    """sha256 (hex) of ``value`` as canonical JSON: keys sorted, no spaces, UTF-8, no ASCII escapes.

    A request token signs this digest of the request exactly as submitted (the mapping under
    ``ops.validate_request.config``), so the application that signs needs nothing of this package.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_from_run_config(run_config: dict) -> ExportRequest:
    """Read the request back from a run's config, as stored in run history."""
    return ExportRequest(**run_config["ops"][VALIDATE_OP]["config"])
