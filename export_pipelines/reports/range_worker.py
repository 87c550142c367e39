"""Drawing one range of a report's pages in a worker process.

reportlab is pure Python and holds the GIL, so ranges are drawn in processes, not threads. Each
worker is given the report's template, columns, facts and display rules once (the pool's
initializer); a range's rows reach it as an Arrow IPC file, and its pages leave as a PDF file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from export_pipelines.reports.cells import Totals
from export_pipelines.reports.document import PdfReport, RangePart

_REPORT: tuple = ()  # (template, columns, facts, display) of the report this worker draws ranges of


def set_report(template, columns, facts, display) -> None:
    """The pool's initializer: what every range of this report shares."""
    global _REPORT
    _REPORT = (template, columns, facts, display)


def draw_range(rows: Path, output: Path, part: RangePart, totals: Totals | None) -> int:
    """Draw the rows in the IPC file ``rows`` as pages from ``part.first_page`` into ``output``; return the
    last page's number. ``totals``: the whole report's, given to its last range only. ``rows`` is removed."""
    with open(output, "wb") as stream:
        report = PdfReport(stream, *_REPORT, part=part)
        with pa.memory_map(str(rows)) as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                report.add(pa.Table.from_batches([reader.get_batch(index)]))
        last_page = report.close(totals)
    os.unlink(rows)
    return last_page
