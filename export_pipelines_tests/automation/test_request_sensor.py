"""export_request_sensor and the request status writing, evaluated directly against a real instance and table."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterRunStatus, SensorResult, SkipReason, build_sensor_context

from export_pipelines.automation.admission import TAG_SUBMITTED_VIA
from export_pipelines.automation.request_sensor import BATCH_ENV, export_request_sensor
from export_pipelines.automation.request_status import REQUEST_SENSOR, TAG_REQUEST_ID, reconcile
from export_pipelines.automation.request_table import (
    FAILED,
    NEW,
    QUEUED,
    RUNNING,
    SUBMITTED,
    RequestTable,
    export_requests,
)
from export_pipelines.cli import main
from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines_tests.automation.conftest import place_run


@pytest.fixture
def table(tmp_path, monkeypatch, instance):
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)
    monkeypatch.delenv(BATCH_ENV, raising=False)
    assert main(["requests", "init"]) == 0
    return RequestTable(url)


def _tick(instance, cursor=None) -> SensorResult:
    return export_request_sensor(build_sensor_context(instance=instance, cursor=cursor))


def _daemon_tick(instance, cursor=None) -> SensorResult:
    """A tick as the daemon runs it: the sensor is evaluated, then each run asked for is made (and queued)."""
    result = _tick(instance, cursor)
    for run_request in result.run_requests:
        tags = {**run_request.tags, "dagster/sensor_name": REQUEST_SENSOR, "dagster/run_key": run_request.run_key}
        place_run(instance, DagsterRunStatus.QUEUED, tags, run_request.run_config)
    return result


def _sensor_tags(request_id: int, **extra) -> dict:
    request = ExportRequest(user="analyst", dataset="orders")
    return {**request.run_tags(), TAG_REQUEST_ID: str(request_id), "dagster/sensor_name": REQUEST_SENSOR,
            "dagster/run_key": str(request_id), **extra}  # fmt: skip


def test_init_is_idempotent_and_the_sensor_skips_without_the_table(tmp_path, monkeypatch, instance, capsys):
    url = f"sqlite:///{tmp_path / 'other.sqlite'}"
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)
    assert isinstance(_tick(instance), SkipReason)

    assert main(["requests", "init"]) == 0
    assert main(["requests", "init"]) == 0

    assert capsys.readouterr().out.splitlines() == ["Created export_requests.", "export_requests exists already; "
                                                    "nothing changed."]  # fmt: skip


def test_new_rows_become_run_requests_keyed_by_id_and_are_marked_submitted(table, instance):
    first = table.insert("analyst", {"dataset": "orders", "format": "csv"})
    second = table.insert("admin", {"dataset": "customers", "format": "jsonl", "columns": ["customer_id"]})

    result = _tick(instance)

    assert [r.run_key for r in result.run_requests] == [str(first), str(second)]
    admin = result.run_requests[1]
    assert admin.run_config == ExportRequest(user="admin", dataset="customers", format="jsonl",
                                             columns=["customer_id"]).run_config()  # fmt: skip
    assert admin.tags == {"export/user": "admin", "export/dataset": "customers", "export/format": "jsonl",
                          TAG_REQUEST_ID: str(second)}  # fmt: skip
    assert result.cursor == str(second)
    assert [row.status for row in table.all()] == [SUBMITTED, SUBMITTED]


def test_at_most_a_batch_per_tick_lowest_ids_first(table, instance, monkeypatch):
    monkeypatch.setenv(BATCH_ENV, "3")
    ids = [table.insert("analyst", {"dataset": "orders", "chunk_size": 1000 + n}) for n in range(5)]

    first = _daemon_tick(instance)
    second = _daemon_tick(instance, first.cursor)

    assert [r.run_key for r in first.run_requests] == [str(i) for i in ids[:3]]
    assert [r.run_key for r in second.run_requests] == [str(i) for i in ids[3:]]


def test_a_reset_cursor_launches_nothing_again(table, instance):
    request_id = table.insert("analyst", {"dataset": "orders"})
    _daemon_tick(instance)

    again = _daemon_tick(instance, cursor=None)

    assert again.run_requests == []
    assert table.get(request_id).status == QUEUED


def test_a_row_below_the_cursor_that_is_still_new_is_picked_up(table, instance):
    with table.engine.begin() as connection:
        connection.execute(export_requests.insert().values(id=2, user_name="analyst", request={"dataset": "orders"}))
    seen = _daemon_tick(instance)
    with table.engine.begin() as connection:  # id 1 commits after id 2 was seen, as PostgreSQL allows
        connection.execute(export_requests.insert().values(id=1, user_name="admin", request={"dataset": "orders"}))

    result = _daemon_tick(instance, cursor=seen.cursor)

    assert seen.cursor == "2" and [r.run_key for r in result.run_requests] == ["1"] and result.cursor == "2"


def test_a_row_whose_run_exists_is_caught_up_not_launched(table, instance):
    request_id = table.insert("analyst", {"dataset": "orders"})  # still new: its status write was lost
    run_id = place_run(instance, DagsterRunStatus.STARTED, _sensor_tags(request_id))

    result = _tick(instance)

    assert result.run_requests == []
    assert (table.get(request_id).status, table.get(request_id).run_id) == (RUNNING, run_id)


def test_an_unreadable_request_fails_its_row_with_the_reason(table, instance):
    bad = table.insert("analyst", {"dataset": "orders", "format": "docx"})
    other_user = table.insert("analyst", {"dataset": "orders", "user": "admin"})
    unknown = table.insert("analyst", {"dataset": "payroll"})

    assert _tick(instance).run_requests == []

    assert table.get(bad).status == FAILED and "format" in table.get(bad).reason
    assert "not the row's user_name 'analyst'" in table.get(other_user).reason
    assert "unknown dataset 'payroll'" in table.get(unknown).reason


def test_reconciliation_repairs_rows_left_behind_and_never_moves_them_back(table, instance):
    queued_row = table.insert("analyst", {"dataset": "orders"})
    failed_row = table.insert("analyst", {"dataset": "orders", "format": "jsonl"})
    _tick(instance)  # the status sensors' writes are lost
    place_run(instance, DagsterRunStatus.QUEUED, _sensor_tags(queued_row))
    failed = place_run(instance, DagsterRunStatus.FAILURE, _sensor_tags(failed_row))

    assert reconcile(instance, table) == []
    assert table.get(queued_row).status == QUEUED
    assert (table.get(failed_row).status, table.get(failed_row).run_id) == (FAILED, failed)
    assert table.get(failed_row).reason

    assert not table.advance(failed_row, RUNNING)  # a late "running" cannot undo "failed"
    assert table.get(failed_row).status == FAILED


def test_a_submitted_row_without_a_run_is_asked_for_again_under_the_same_key(table, instance):
    request_id = table.insert("analyst", {"dataset": "orders"})
    _tick(instance)  # marked submitted; suppose the daemon stopped before it made the run

    again = _tick(instance, cursor=str(request_id))

    assert [r.run_key for r in again.run_requests] == [str(request_id)]  # Dagster drops it if the run exists


def test_a_run_with_typed_request_tags_from_the_webserver_is_not_the_rows(table, instance):
    request_id = table.insert("analyst", {"dataset": "orders"})
    place_run(instance, DagsterRunStatus.SUCCESS, _sensor_tags(request_id, **{TAG_SUBMITTED_VIA: "webserver"}))

    result = _tick(instance)

    assert [r.run_key for r in result.run_requests] == [str(request_id)]
    assert table.get(request_id).status == SUBMITTED and table.get(request_id).status != NEW


def test_the_commands_add_a_row_as_an_application_does_and_list_where_each_one_is(table, instance, tmp_path, capsys):
    (tmp_path / "request.yaml").write_text("dataset: orders\nformat: jsonl\ntitle: from the command line\n")
    (tmp_path / "list.yaml").write_text("- dataset: orders\n")
    capsys.readouterr()

    assert main(["requests", "add", "--user", "analyst", str(tmp_path / "request.yaml")]) == 0
    added = int(capsys.readouterr().out)
    (made,) = _tick(instance).run_requests  # the sensor takes it like any row
    assert main(["requests", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert main(["requests", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    refused = main(["requests", "add", "--user", "analyst", str(tmp_path / "list.yaml")])
    said = capsys.readouterr()

    assert made.run_key == str(added) and made.tags[TAG_USER] == "analyst"
    assert made.run_config["ops"]["validate_request"]["config"]["title"] == "from the command line"
    assert row["id"] == added and row["user_name"] == "analyst" and row["status"] == "submitted"
    assert row["request"] == {"dataset": "orders", "format": "jsonl", "title": "from the command line"}
    assert listed[0].split()[:3] == [str(added), "analyst", "submitted"]
    assert refused != 0 and "list.yaml: a request file must hold a mapping of request fields" in said.err
    assert "Traceback" not in said.err and [r.id for r in table.all()] == [added]  # the refused file added nothing
