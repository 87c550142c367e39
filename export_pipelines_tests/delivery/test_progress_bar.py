"""The terminal progress bar's line: what a person sees for each state of the live status."""

from __future__ import annotations

from export_pipelines.service.live import StatusEvent, summary
from export_pipelines.service.progress_bar import bar_line


def _state(*events: StatusEvent) -> dict:
    return summary("run", list(events))


def test_reading_rows_fills_most_of_the_bar_and_says_how_many_of_how_many():
    line = bar_line(_state(StatusEvent(0, "queued", "t"), StatusEvent(5, "progress", "t",
                                                                      {"rows": 5_000, "planned": 10_000,
                                                                       "percent": 50})))  # fmt: skip
    assert line == "[############..................]  40%  5,000 of 10,000 rows  reading rows"


def test_writing_the_file_goes_on_from_where_reading_ended():
    line = bar_line(_state(StatusEvent(7, "rendering", "t", {"rows": 2_500, "planned": 10_000, "percent": 25})))
    assert line.startswith("[#########################.....]  84%") and line.endswith("writing the file")


def test_a_finished_export_is_a_full_bar():
    line = bar_line(_state(StatusEvent(0, "queued", "t"), StatusEvent(9, "succeeded", "t", {"percent": 100})))
    assert line.startswith("[" + "#" * 30 + "] 100%") and line.endswith("done")


def test_a_waiting_export_is_an_empty_bar_that_says_so():
    assert (
        bar_line(_state(StatusEvent(0, "queued", "t")))
        == "[..............................]   0%  0 rows  waiting to start"
    )


def test_the_whole_export_is_weighed_by_what_each_phase_costs_for_the_format():
    """Half the rows read is most of a CSV export (the server writes it) but little of a workbook, whose
    writing then fills the rest of the bar instead of sitting at the end of the reading."""
    read_half = {"rows": 500, "planned": 1_000, "percent": 50}
    csv = StatusEvent(3, "progress", "t", read_half, format="csv").as_dict()["overall"]
    xlsx = StatusEvent(3, "progress", "t", read_half, format="xlsx").as_dict()["overall"]
    xlsx_written_half = StatusEvent(4, "rendering", "t", read_half, format="xlsx").as_dict()["overall"]
    assert (csv, xlsx, xlsx_written_half) == (45, 10, 59)
