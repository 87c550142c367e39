"""A PDF report drawn as page ranges on every core, joined into the one file a single renderer would write.

The planner (``range_planner``) cuts the rows into ranges that start on a fresh page, as they
arrive; each range goes, as an Arrow IPC file, to a process pool that draws its pages
(``range_worker``), and at the end the ranges are joined and the page and row counts written in
(``range_merge``). A report of one range (a small export) is drawn here, in this process, with no
pool and no join. Memory stays flat: at most ``2 x workers`` ranges are in flight, each on disk.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.display.styles import NO_RULES, DisplayRules
from export_pipelines.reports.document import PdfReport
from export_pipelines.reports.page import ReportFacts
from export_pipelines.reports.range_merge import merge_ranges
from export_pipelines.reports.range_planner import PlannedRange, RangePlanner
from export_pipelines.reports.range_worker import draw_range, set_report
from export_pipelines.reports.template import ReportTemplate

RANGE_ROWS = 10_000  # about 290 pages of the orders columns: a range is worth a process's start-up and a join
# fork: a worker starts in milliseconds with reportlab, pyarrow and the fonts already loaded. forkserver
# and spawn re-import the main module in every worker (the whole of dagster's CLI, in a run), and fail
# outright under a script without a __main__ guard. A forked worker runs only reportlab and Arrow IPC
# reading, never the parent's threads' code.
START_METHOD = "fork"


class ParallelReport:
    """``add`` chunks, ``close`` writes the file to ``stream`` and returns the page count (as ``PdfReport``)."""

    def __init__(
        self,
        stream: BinaryIO,
        template: ReportTemplate,
        columns: tuple[ColumnSpec, ...],
        facts: ReportFacts,
        display: DisplayRules = NO_RULES,
        range_rows: int = RANGE_ROWS,
        workers: int | None = None,
    ):
        self._stream, self._report = stream, (template, columns, facts, display)
        self._planner = RangePlanner(template, columns, facts, display, range_rows)
        self._workers = workers or os.cpu_count() or 2
        # One worker, or a daemonic process (which may not start children): drawn here, streamed as before.
        self._here = None
        if self._workers == 1 or multiprocessing.current_process().daemon:
            self._here = PdfReport(stream, *self._report)
        self._pool: ProcessPoolExecutor | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        self._drawn: deque[Future] = deque()
        self._parts: list[Path] = []

    @property
    def rows(self) -> int:
        return self._planner.rows if self._here is None else self._here.rows

    def add(self, table: pa.Table) -> None:
        if self._here is not None:
            self._here.add(table)
            return
        for planned in self._planner.add(table):
            self._draw(planned)

    def close(self) -> int:
        if self._here is not None:
            return self._here.close()
        last = self._planner.finish()
        if not self._parts:  # one range: the whole report, drawn here
            report = PdfReport(self._stream, *self._report)
            for table in last.tables:
                report.add(table)
            return report.close()
        try:
            self._draw(last, totals=True)
            pages = 0
            while self._drawn:
                pages = self._drawn.popleft().result()
            merge_ranges(self._parts, self._stream, pages=pages, rows=self._planner.rows)
            return pages
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Stop the workers and remove the ranges' files (``close`` does it too)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _draw(self, planned: PlannedRange, totals: bool = False) -> None:
        if self._pool is None:
            self._folder = tempfile.TemporaryDirectory(prefix="pdf-ranges-")
            context = multiprocessing.get_context(START_METHOD)
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=context, initializer=set_report, initargs=self._report
            )
        while len(self._drawn) >= 2 * self._workers:  # flat memory: wait for the oldest range
            self._drawn.popleft().result()
        index = len(self._parts)
        rows, part = Path(self._folder.name, f"{index}.arrow"), Path(self._folder.name, f"{index}.pdf")
        schema = planned.tables[0].schema
        with pa.OSFile(str(rows), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for table in planned.tables:
                writer.write_table(table)
        self._parts.append(part)
        self._drawn.append(
            self._pool.submit(draw_range, rows, part, planned.part, self._planner.totals if totals else None)
        )
