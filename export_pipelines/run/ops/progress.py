"""Rows done / rows planned while a step works, published as asset observations of ``export_progress``.

Why an ``AssetObservation`` through ``context.log_event``: it is Dagster's public way for an op to put
structured metadata in the run's event log, and ``DagsterEvent.from_step`` writes it to the instance as
it is logged, not when the op returns, so render_file (one return value) reports as it goes too. The
Dagster UI shows each one in the run's log as it happens, with its metadata table; ``instance.all_logs``
and ``get_records_for_run`` return it (``ASSET_OBSERVATION``), GraphQL's ``logsForRun`` as an
``ObservationEvent`` with ``metadataEntries``. A plain ``context.log.info`` has no metadata, and engine
events can only be built through Dagster's internals.

Cheap by design: one monotonic-clock read per chunk, and at most one event a second (plus a last one
when the step ends), so an export of a million rows in 1,000-row chunks adds tens of events, not thousands.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dagster import AssetKey, AssetObservation, OpExecutionContext

PROGRESS_ASSET = AssetKey("export_progress")
INTERVAL_SECONDS = 1.0


class ProgressReporter:
    """Counts the rows a step has done and publishes them at most once per ``interval`` seconds."""

    def __init__(
        self,
        context: OpExecutionContext,
        step: str,
        planned: int,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.context = context
        self.step = step
        self.planned = max(planned, 0)
        self.interval = interval
        self.clock = clock
        self.rows = 0
        self._last = clock()  # the first event comes a second in, not with the first chunk
        self._published: int | None = None  # the count of the last event

    def advance(self, rows: int) -> None:
        """Add one chunk's rows; publish if a second has passed since the last event."""
        self.rows += rows
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._publish()

    def finish(self) -> None:
        """The step's last word: its final count, unless the last event already said it."""
        if self._published != self.rows:
            self._publish()

    def _publish(self) -> None:
        self._published = self.rows
        percent = min(100, self.rows * 100 // self.planned) if self.planned else 100
        self.context.log_event(
            AssetObservation(
                asset_key=PROGRESS_ASSET,
                description=f"{self.step}: {self.rows:,} of {self.planned:,} rows ({percent}%)",
                metadata={
                    "step": self.step,
                    "rows_done": self.rows,
                    "rows_planned": self.planned,
                    "percent": percent,
                },  # fmt: skip
            )
        )
