"""The progress bar of ``export-pipelines export`` on a terminal: the live status the service streams to a
page (``live``), drawn on one line of the terminal while the command waits for its run.

It reads the run's event log from a thread, as the page does, so it shows exactly what a page would:
rows read, then rows written into the file, and one percentage for the whole export. Nothing is drawn
when the output is not a terminal (a pipe, a log file, ``--json``): the command's output stays the same.
"""

from __future__ import annotations

import threading
from typing import TextIO

from dagster import DagsterInstance

from export_pipelines.service.live import UnknownRun, read_events, summary

PHASES = {
    "queued": "waiting to start",
    "started": "starting",
    "progress": "reading rows",
    "rendering": "writing the file",
    "uploaded": "storing the file",
    "succeeded": "done",
    "failed": "failed",
}
WIDTH = 30


def bar_line(state: dict, width: int = WIDTH) -> str:
    """One line for a state folded by ``live.summary``: bar, whole-export percent, rows, phase."""
    overall = max(0, min(100, int(state.get("overall") or 0)))
    filled = overall * width // 100
    rows, planned = state.get("rows") or 0, state.get("planned")
    counted = f"{rows:,} of {planned:,} rows" if planned else f"{rows:,} rows"
    phase = PHASES.get(state.get("state", ""), state.get("state", ""))
    return f"[{'#' * filled}{'.' * (width - filled)}] {overall:3d}%  {counted}  {phase}"


class ProgressBar:
    """Draws ``run_id``'s progress on ``stream`` about twice a second until closed (a context manager)."""

    def __init__(self, instance: DagsterInstance, run_id: str, stream: TextIO, interval: float = 0.5):
        self.instance, self.run_id, self.stream, self.interval = instance, run_id, stream, interval
        self.events: list = []
        self.cursor: int | None = None
        self.drawn = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="export-progress", daemon=True)

    def __enter__(self) -> ProgressBar:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()  # the last events, so the bar ends where the run ended
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def _poll(self) -> None:
        try:
            events, self.cursor = read_events(self.instance, self.run_id, self.cursor, succeeded=dict)
        except UnknownRun:  # not created yet: the command is still passing the gate
            return
        self.events += events
        line = bar_line(summary(self.run_id, self.events))
        if line != self.drawn:
            # Padded to the last line's length, so a shorter line leaves nothing of the longer one.
            self.stream.write("\r" + line.ljust(len(self.drawn)))
            self.stream.flush()
            self.drawn = line
