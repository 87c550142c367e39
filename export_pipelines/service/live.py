"""Live status of one export, read from the Dagster instance's event log: what a run is doing, as events.

The instance is the one store every process of a deployment shares, and the run writes everything the
status needs there already (``RUN_START``, the ``export_progress`` observations of ``ops.progress``,
step and run outcomes). So there is no second channel to keep in step: the service polls
``get_records_for_run`` with the storage id of the last record it read, about twice a second.

Each event carries that storage id as its ``cursor``; a client that reconnects with ``after=<cursor>``
gets exactly what it missed. ``queued`` is the run record itself (cursor 0): every run has one, whether
it went through the run queue or was launched in process.

    queued  started  progress (collect)  rendering (render)  uploaded  succeeded | failed
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.event_api import EventLogCursor  # the cursor format get_records_for_run parses

from export_pipelines.request.model import TAG_FORMAT
from export_pipelines.run.ops.progress import PROGRESS_ASSET

POLL_SECONDS = 0.5
TERMINAL = ("succeeded", "failed")
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
_TYPES = {
    DagsterEventType.RUN_START, DagsterEventType.STEP_START, DagsterEventType.ASSET_OBSERVATION,
    DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED,
}  # fmt: skip
_PAGE = 500
# What failed, in words a user knows; the step's own failure description says why.
_FAILED_WHILE = {
    "validate_request": "The request was refused",
    "skip_empty_export": "The request was refused",
    "collect_chunks": "Reading the rows failed",
    "transform_chunk": "Shaping the rows failed",
    "render_file": "Writing the file failed",
    "upload_file": "Storing the file failed",
}
_MAX_REASON = 500


@dataclass(frozen=True)
class StatusEvent:
    """One thing that happened to the export, as clients see it."""

    cursor: int
    event: str
    at: str
    data: dict = field(default_factory=dict)
    format: str | None = None  # the export's format, which weighs reading against writing in ``overall``

    def as_dict(self) -> dict:
        shown = {"cursor": str(self.cursor), "event": self.event, "at": self.at, **self.data}
        overall = _overall(self.event, self.data.get("percent") or 0, self.format)
        return shown if overall is None else {**shown, "overall": overall}


# Of the whole export (98 points between "started" and "uploaded"), the share of reading the rows; writing the
# file has the rest. Measured with benchmarks/export_bench.py and xlsx_bench.py on PostgreSQL: text formats are
# mostly reading (the server writes CSV and JSON Lines), a workbook or a report mostly writing. xlsx: collect and
# transform over collect, transform and render at 300,000 orders, median of 6 rounds 0.21 (0.16-0.30).
READING_SHARE = {"csv": 0.9, "jsonl": 0.9, "json": 0.85, "parquet": 0.75, "xlsx": 0.2, "pdf": 0.2}
DEFAULT_READING_SHARE = 0.8


def _overall(event: str, percent: int, format_name: str | None = None) -> int | None:
    """The whole export's progress for one bar: reading and writing weighted by what they cost for the format,
    so the bar neither jumps while rows are read nor crawls while the file is written."""
    reading = READING_SHARE.get(format_name or "", DEFAULT_READING_SHARE) * 98
    weights = {"queued": (0, 0), "started": (1, 0), "progress": (1, reading / 100),
               "rendering": (1 + reading, (98 - reading) / 100),
               "uploaded": (99, 0), "succeeded": (100, 0)}  # fmt: skip
    if event not in weights:
        return None
    start, share = weights[event]
    return min(100, int(start + share * percent))


class UnknownRun(LookupError):
    """The run a verified token names is not in this instance (deleted, or another deployment's)."""


MAX_CURSOR = 2**63 - 1
_CURSOR = re.compile(r"[0-9]{1,19}")


def parse_cursor(text: str | None) -> int | None:
    """``after=`` as sent back by a client: a storage id; anything else starts from the beginning.

    Only ASCII digits up to 2**63-1 (a BIGINT storage id): ``str.isdigit`` accepts "²", which ``int`` refuses,
    and a larger number overflows the database's integer, both of which ended the socket with 1011.
    """
    text = (text or "").strip()
    if not _CURSOR.fullmatch(text) or int(text) > MAX_CURSOR:
        return None
    return int(text)


def run_status(instance: DagsterInstance, run_id: str) -> tuple[DagsterRunStatus, datetime]:
    record = _run_record(instance, run_id)
    return record.dagster_run.status, record.create_timestamp


def _run_record(instance: DagsterInstance, run_id: str):
    records = instance.get_run_records(filters=RunsFilter(run_ids=[run_id]), limit=1)
    if not records:
        raise UnknownRun(run_id)
    return records[0]


def read_events(
    instance: DagsterInstance, run_id: str, after: int | None, succeeded: Callable[[], dict]
) -> tuple[list[StatusEvent], int]:
    """Events after ``after`` (all when None) and the cursor to poll from next.

    ``succeeded`` gives what the ``succeeded`` event carries (a fresh download link): minted when
    the event is read, so it is never older than the request that sees it.
    """
    cursor = -1 if after is None else after
    events = []
    run = _run_record(instance, run_id)  # one query: its format (which weighs ``overall``) and when it was queued
    format_name = run.dagster_run.tags.get(TAG_FORMAT)
    if after is None:
        events.append(StatusEvent(0, "queued", _iso(run.create_timestamp.timestamp()), format=format_name))
        cursor = 0
    while True:
        page = instance.get_records_for_run(run_id, cursor=EventLogCursor.from_storage_id(cursor).to_string(),
                                            of_type=_TYPES, limit=_PAGE)  # fmt: skip
        for record in page.records:
            cursor = record.storage_id
            translated = _translate(instance, record, succeeded)
            if translated is not None:
                events.append(replace(translated, format=format_name))
        if not page.has_more:
            return events, cursor


def summary(run_id: str, events: list[StatusEvent]) -> dict:
    """The export's state now, folded from its events: what ``GET /exports/<run_id>/status`` answers."""
    state: dict = {"run_id": run_id, "state": "queued", "rows": 0, "planned": None, "percent": 0, "overall": 0,
                   "cursor": "0"}  # fmt: skip
    for event in events:
        shown = event.as_dict()
        state.update({key: value for key, value in shown.items() if key not in ("event", "at")})
        state["state"], state["updated_at"] = event.event, event.at
    return state


def _translate(instance, record, succeeded) -> StatusEvent | None:
    entry = record.event_log_entry
    event = entry.dagster_event
    at, kind = _iso(entry.timestamp), event.event_type
    op_name = (event.step_key or "").split("[", 1)[0]
    if kind == DagsterEventType.RUN_START:
        return StatusEvent(record.storage_id, "started", at)
    if kind == DagsterEventType.ASSET_OBSERVATION:
        observation = event.event_specific_data.asset_observation
        if observation.asset_key != PROGRESS_ASSET:
            return None
        values = {name: getattr(value, "value", value) for name, value in observation.metadata.items()}
        step = values.get("step")
        data = {"step": step, "rows": values.get("rows_done"), "planned": values.get("rows_planned"),
                "percent": values.get("percent")}  # fmt: skip
        return StatusEvent(record.storage_id, "rendering" if step == "render" else "progress", at, data)
    if kind == DagsterEventType.STEP_START and op_name == "render_file":
        return StatusEvent(record.storage_id, "rendering", at, {"step": "render", "rows": 0, "percent": 0})
    if kind == DagsterEventType.STEP_SUCCESS and op_name == "upload_file":
        return StatusEvent(record.storage_id, "uploaded", at)
    if kind == DagsterEventType.RUN_SUCCESS:
        return StatusEvent(record.storage_id, "succeeded", at, {"percent": 100, **succeeded()})
    if kind == DagsterEventType.RUN_FAILURE:
        return StatusEvent(record.storage_id, "failed", at, {"reason": failure_reason(instance, entry.run_id)})
    if kind == DagsterEventType.RUN_CANCELED:
        return StatusEvent(record.storage_id, "failed", at, {"reason": "The export was cancelled: run it again if "
                                                                       "you still need the file."})  # fmt: skip
    return None


def failure_reason(instance: DagsterInstance, run_id: str) -> str:
    """What went wrong, for the person who asked: the failed step's own description, never a traceback."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        data = event.event_specific_data
        described = data.user_failure_data.description if data.user_failure_data else None
        if not described and data.error is not None:
            error = data.error
            while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
                error = error.cause  # Dagster's wrapper: the op's own error is what it wraps
            described = error.message
        text = (described or "").strip().splitlines()[0][:_MAX_REASON] if (described or "").strip() else ""
        step = (event.step_key or "").split("[", 1)[0]
        return f"{_FAILED_WHILE.get(step, 'The export failed')}: {text or 'no reason was recorded'}"
    return "The export failed before any of its steps ran: ask an administrator to look at the run."


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
