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
from dagster._core.storage.tags import RETRY_STRATEGY_TAG
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from export_pipelines.datasets.filter_tree import filters_shape, sort_keys, sort_shape
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.format_options import FORMAT_OPTIONS, FormatOptions  # noqa: F401 (also read from here)
from export_pipelines.request.formatting.fields import ColumnFormat, HighlightFormat

# Choices are Literal types, so the launchpad offers them and flags a typo before a run is made.
FilterOp = Literal[
    "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in",
    "contains", "startswith", "between", "is_null", "not_null", "within",
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
TAG_SUBSCRIPTION = "export/subscription"  # set by subscription schedules and their sensor
# A subscription's run that ends without a file or a mail when it has no rows, and the run's note when it did.
TAG_SKIP_IF_EMPTY = "export/skip_if_empty"
TAG_SKIPPED = "export/skipped"
EXPORT_JOB_TAGS = {"export/kind": "export"}  # export_job's own tags: every run of it carries them
# export_job's tags as the job declares them: a run that died is retried from scratch (see run/jobs.py).
JOB_TAGS = {**EXPORT_JOB_TAGS, RETRY_STRATEGY_TAG: "ALL_STEPS"}



class ExportRequest(Config):
    """What to export, for whom, in which format, and who hears about it."""

    # A misspelt field (``formt: pdf`` in a request file or row) is an error, not a CSV export.
    model_config = ConfigDict(extra="forbid")

    user: str = Field(description="The user the export runs as; their grants decide which rows are exported.")
    dataset: str = Field(description="A dataset of the catalog, for example 'orders'.")
    columns: list[str] = Field(
        default_factory=list, description="Columns in output order; empty means every catalog column."
    )
    # Any: a list or a tree of groups, which Dagster's config types cannot express; request/query/ checks it.
    filters: Any = Field(
        default_factory=list,
        description="Conditions {column, op, value} (op: " + ", ".join(get_args(FilterOp)) + "). A list: all "
        "must hold. Or a tree of groups: {all: [...]}, {any: [...]}, {not: {...}}, e.g. "
        "{any: [{column: status, op: eq, value: paid}, {not: {column: note, op: is_null}}]}.",
    )
    where: str | None = Field(
        default=None,
        description="Conditions as text, joined with filters by and, e.g. 'status in (paid, refunded) and "
        "(amount > 100 or customer_name startswith \"A\") and created_at within last 30 days'.",
    )
    search: str | None = Field(
        default=None, description="Text looked for, in any letter case, in the dataset's searchable columns."
    )
    # Any: a string or a list of strings (today's single 'column:desc' stays valid).
    sort: Any = Field(
        default=None,
        description="'column' or 'column:desc', or a list of them, e.g. [region, 'amount:desc']; "
        "ties and unsorted rows are ordered by the dataset key.",
    )
    relative_to: str | None = Field(
        default=None,
        description="ISO timestamp relative dates (within last 30 days) are resolved from; default: when the "
        "run starts. Subscriptions set it to their tick's time.",
    )
    format: FormatName = Field(default="csv", description="Output format.")
    # Typed for the launchpad (choices are enums); held as a plain dict of the options set (see below).
    format_options: FormatOptions = Field(
        default_factory=dict,
        description="Options of the chosen format; each says which formats it applies to. "
        "One left out takes the format's default.",
    )
    locale: str | None = Field(
        default=None,
        description="How numbers and dates are written, e.g. de-DE, en-US, fr-FR: in pdf, in csv and json with "
        "formatted, and the currency symbols and date patterns of xlsx.",
    )
    formats: dict[str, ColumnFormat] = Field(
        default_factory=dict,
        description="Display rules per column, e.g. {amount: {number: currency, currency: EUR, decimals: 2}, "
        "created_at: {datetime: 'dd.MM.yyyy HH:mm'}}; xlsx keeps real numbers and dates with Excel formats.",
    )
    highlight: list[HighlightFormat] = Field(
        default_factory=list,
        description="Conditional styles in pdf and xlsx, the first that holds wins, e.g. "
        "[{when: 'amount > 1000', bold: true, color: '#C00000'}].",
    )
    formatted: bool = Field(
        default=False, description="csv, json, jsonl: write the display text of the rules instead of raw values."
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
        default=50_000,
        description="Rows per chunk: the unit of parallel work and of memory use. Chunks PostgreSQL writes itself "
        "(CSV and JSON Lines) are never held in memory: they hold at least EXPORT_SERVER_CHUNK_ROWS rows "
        "(1,000,000 by default).",
    )

    @field_validator("filters")
    @classmethod
    def _filters_shape(cls, value: Any) -> Any:
        return filters_shape(value)

    @field_validator("sort")
    @classmethod
    def _sort_shape(cls, value: Any) -> Any:
        return sort_shape(value)

    @field_validator("format_options", mode="wrap")
    @classmethod
    def _options_given(cls, value: Any, handler, info) -> dict[str, Any]:
        """Check the options' names and values; keep the ones set as a plain dict, as renderers take them.

        An unknown name is refused here, by ``ExportRequestError`` naming the options of the chosen format,
        as the job's config schema refuses it in the launchpad: a request that reads is one that launches.
        """
        format_name = info.data.get("format")  # absent when refused: that error is the one to read
        if isinstance(value, Mapping) and format_name is not None:
            unknown = [name for name in value if name not in FormatOptions.model_fields]
            if unknown:
                raise _unknown_option(unknown[0], format_name)
        options = handler(value)
        return options.given() if isinstance(options, FormatOptions) else dict(options)

    @field_validator("formats", "highlight", mode="wrap")
    @classmethod
    def _rules_given(cls, value: Any, handler) -> Any:
        """Keep only the fields set, as plain data, as ``format_options`` does: run config stays small."""
        rules = handler(value)
        if isinstance(rules, dict):
            return {name: rule.given() if isinstance(rule, Config) else rule for name, rule in rules.items()}
        return [rule.given() if isinstance(rule, Config) else rule for rule in rules]

    @field_serializer("formats", "highlight")
    def _dump_rules(self, rules: Any) -> Any:
        return {name: dict(rule) for name, rule in rules.items()} if isinstance(rules, dict) else list(rules)

    @field_serializer("format_options")
    def _dump_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return dict(options)

    def run_config(self) -> dict:
        """The run config that launches ``export_job`` with this request."""
        return {"ops": {VALIDATE_OP: {"config": self.model_dump()}}}

    def digest(self) -> str:
        """sha256 of the whole request, defaults filled in: equal for requests that export the same thing."""
        return canonical_digest(self.model_dump(mode="json"))

    def run_tags(self) -> dict[str, str]:
        """Tags every export run carries: who, what and how; the audit log filters on them."""
        return {TAG_USER: self.user, TAG_DATASET: self.dataset, TAG_FORMAT: self.format}

    def sort_keys(self) -> tuple[tuple[str, bool], ...]:
        """((column, descending), ...) from ``sort``: a string (commas separate columns) or a list of strings."""
        return sort_keys(self.sort)


def _unknown_option(name: str, format_name: str) -> ExportRequestError:
    from export_pipelines.formats import renderer_class  # only here: it imports the format's renderer

    allowed = ", ".join(sorted(renderer_class(format_name).options)) or "none"
    return ExportRequestError(f"format_options.{name}", f"not an option of format {format_name!r}", allowed)


def describe_problems(error: ValidationError, whole: str = "request") -> str:
    """A validation error as ``field: what is wrong`` per problem, on one line: no URL, no input echo."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or whole}: "
        + ("is required" if problem["type"] == "missing" or problem.get("input", "") is None else
           "is not a known field" if problem["type"] == "extra_forbidden" else
           problem["msg"].removeprefix("Value error, "))
        for problem in error.errors()
    )  # fmt: skip


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
