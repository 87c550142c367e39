"""The small values ops pass to each other: a validated plan and references to staged files.

Ops never pass rows. They pass these references, which fit in an event log line and pickle in
microseconds, so a run can spread over processes or machines without moving data through Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.datasets.filter_tree import leaves
from export_pipelines.display.styles import NO_RULES, DisplayRules
from export_pipelines.errors import IncompleteExport
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.withheld import WithheldRows, withheld_rows
from export_pipelines.source.query import ExportQuery
from export_pipelines.storage.base import PUBLISHED_PREFIX, TRANSIENT_PREFIX


@dataclass(frozen=True)
class ExportPlan:
    """A request after validation: the query to run, the columns to write, the counts to report."""

    request: ExportRequest
    query: ExportQuery
    output_columns: tuple[ColumnSpec, ...]
    title: str
    file_extension: str
    compression: str  # none, gzip or zip: what validation chose ('auto' already resolved)
    matching_rows: int
    visible_rows: int
    withheld_detail: str = "none"  # what the user may learn of skipped rows: see withheld.py
    resolved_at: datetime | None = None  # when relative dates (within last 30 days) were resolved
    display: DisplayRules = NO_RULES  # labels, number and date formats, highlights: see export_pipelines.display
    # Keys that cut the export into ranges read by several connections at once (source.read_ranges); () one reader.
    read_split_points: tuple[str, ...] = ()

    @property
    def skipped_rows(self) -> int:
        """Rows the filters matched but the user's grants hide: exact for operators, never for the user."""
        return self.matching_rows - self.visible_rows

    @property
    def withheld(self) -> WithheldRows:
        """What the user is told about ``skipped_rows``: that there were some, at most a coarse band."""
        return withheld_rows(self.skipped_rows, self.withheld_detail)

    def filter_descriptions(self) -> tuple[str, ...]:
        """Each condition as it reads, relative dates with the absolute range they resolved to."""
        return tuple(condition.describe() for condition in self.query.conditions)

    def relative_dates_metadata(self) -> dict[str, str]:
        """The absolute ranges relative dates resolved to, and when: for the run's metadata and the audit."""
        nodes = (node for root in self.query.conditions for node in leaves(root))
        ranges = [node.describe() for node in nodes if getattr(node, "op", None) == "within"]
        if not ranges or self.resolved_at is None:
            return {}
        return {"relative_dates": "; ".join(ranges), "relative_dates_resolved_at": self.resolved_at.isoformat()}


@dataclass(frozen=True)
class ChunkRef:
    """One staged chunk: its place in the output order, its storage key, its row count.

    ``encoded``: the file holds the chunk's bytes in the export's format (see shaping.chunk_encoder),
    not Arrow rows. ``last``: no chunk follows; with the indexes, it lets render_file prove it has
    every chunk (a re-execution from failure can skip mapped steps that never started).
    """

    index: int
    key: str
    rows: int
    encoded: bool = False
    last: bool = False


@dataclass(frozen=True)
class RenderedFile:
    """The rendered file, still in staging, with the size and checksum computed while writing it."""

    key: str
    file_name: str
    rows: int
    bytes: int
    sha256: str
    key_id: int | None = None


@dataclass(frozen=True)
class ExportResult:
    """The delivered file: what the audit log and the notification report."""

    file_key: str
    location: str
    rows: int
    skipped_rows: int
    bytes: int
    sha256: str
    expires_at: datetime
    key_id: int | None = None


def complete_chunks(chunks: list[ChunkRef]) -> list[ChunkRef]:
    """The chunks in output order, after checking none is missing (indexes 0..n-1, the last one marked last).

    Dagster's re-execution from failure can skip mapped steps that never started; rendering what
    arrived would publish a file missing rows and call it a success.
    """
    ordered = sorted(chunks, key=lambda chunk: chunk.index)
    if not ordered or [c.index for c in ordered] != list(range(len(ordered))) or not ordered[-1].last:
        have = ", ".join(str(c.index) for c in ordered) or "none"
        raise IncompleteExport(
            f"render_file received chunks {have}, not every chunk collect_chunks staged: some transform_chunk "
            "steps did not run. Re-execute the whole run (all steps), not from failure."
        )
    return ordered


def staging_prefix(run_id: str) -> str:
    """Every staged file and step output of a run lives under this prefix, so one delete removes them all."""
    return f"{TRANSIENT_PREFIX}{run_id}"


def data_prefix(run_id: str) -> str:
    """Staged rows and the rendered file, removed once the file is published (step outputs stay until the end)."""
    return f"{staging_prefix(run_id)}/data"


def published_key(run_id: str, file_name: str) -> str:
    """``files/<run_id>/<file>``: one folder per run, so retention and audits work per export."""
    return f"{PUBLISHED_PREFIX}{run_id}/{file_name}"
