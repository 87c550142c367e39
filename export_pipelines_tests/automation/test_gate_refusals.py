"""A refused submission is recorded once and left alone: not retried by the daemon, not a failed tick."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.tags import WILL_RETRY_TAG

from export_pipelines.automation.admission import SubmissionRefused
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.automation.conftest import _origin

PROJECT_DAGSTER_YAML = Path(__file__).parents[2] / "dagster.yaml"
BAD_REQUEST = {"ops": {"validate_request": {"config": {"user": "analyst", "dataset": "orders", "format": "docx"}}}}
FROM_DAEMON = SimpleNamespace()  # the daemon's workspace has no HTTP request
FROM_WEBSERVER = SimpleNamespace(source=object())


@pytest.fixture
def instance(dagster_home, monkeypatch):
    """The project's instance settings: the gate, and run retries switched on."""
    monkeypatch.delenv("EXPORT_TRUST_UNSIGNED_SUBMISSIONS", raising=False)
    shutil.copy(PROJECT_DAGSTER_YAML, dagster_home / "dagster.yaml")
    with DagsterInstance.get() as instance:
        assert instance.run_retries_enabled
        yield instance


def _new_run(instance: DagsterInstance, run_config=BAD_REQUEST, tags=None, parent_run_id=None) -> str:
    pointer = ModuleCodePointer("export_pipelines.definitions", "defs", working_directory=None)
    run = DagsterRun(
        job_name="export_job", run_id=str(uuid.uuid4()), status=DagsterRunStatus.NOT_STARTED, run_config=run_config,
        tags=tags or {}, parent_run_id=parent_run_id, root_run_id=parent_run_id, remote_job_origin=_origin(),
        job_code_origin=JobPythonOrigin("export_job", RepositoryPythonOrigin(sys.executable, pointer)),
    )  # fmt: skip
    instance.add_run(run)
    return run.run_id


def test_a_refusal_from_the_daemon_fails_the_run_without_failing_the_tick(instance):
    run_id = _new_run(instance)

    run = instance.submit_run(run_id, FROM_DAEMON)  # a raise here would fail the sensor's tick

    assert run.status == DagsterRunStatus.FAILURE
    assert "format" in audit_record_for_run(instance, run_id).error
    (failure,) = [event.dagster_event for event in instance.all_logs(run_id) if event.is_dagster_event]
    assert failure.event_type == DagsterEventType.RUN_FAILURE  # one event tells why
    assert failure.message.startswith("Refused at submission: the request is not valid: format")


@pytest.mark.parametrize("workspace", [FROM_DAEMON, FROM_WEBSERVER], ids=["daemon", "webserver"])
def test_a_refused_run_is_not_retried(instance, workspace):
    run_id = _new_run(instance)

    if workspace is FROM_WEBSERVER:  # the webserver is answered with the refusal
        with pytest.raises(SubmissionRefused):
            instance.submit_run(run_id, workspace)
    else:  # the daemon's tick goes on: the refusal is the run's failure
        instance.submit_run(run_id, workspace)

    run = instance.get_run_by_id(run_id)
    assert run.status == DagsterRunStatus.FAILURE
    assert run.tags[WILL_RETRY_TAG] == "false"


def test_the_webserver_is_answered_with_the_refusal(instance):
    with pytest.raises(SubmissionRefused, match="format"):
        instance.submit_run(_new_run(instance), FROM_WEBSERVER)


def test_a_typed_request_id_is_refused_but_a_re_execution_keeps_its_parents(instance):
    request = ExportRequest(user="analyst", dataset="orders")
    tags = {**request.run_tags(), "export/request_id": "7"}  # would make the run report to request row 7
    with pytest.raises(SubmissionRefused, match="run tag export/request_id is set by the deployment"):
        instance.submit_run(_new_run(instance, request.run_config(), tags), FROM_WEBSERVER)
    parent = instance.submit_run(_new_run(instance, request.run_config(), tags), FROM_DAEMON)  # the request sensor

    again = instance.submit_run(_new_run(instance, request.run_config(), parent.tags, parent.run_id), FROM_WEBSERVER)

    assert again.status == DagsterRunStatus.QUEUED


def test_a_subscriptions_ticks_are_never_canceled_as_repeats_while_other_repeats_are(instance):
    tick = ExportRequest(user="analyst", dataset="orders")
    tick_tags = {**tick.run_tags(), "export/subscription": "every_five_minutes"}
    other = ExportRequest(user="analyst", dataset="orders", format="jsonl")  # e.g. two request rows alike
    submissions = [(tick, tick_tags), (tick, tick_tags), (other, other.run_tags()), (other, other.run_tags())]

    statuses = [instance.submit_run(_new_run(instance, request.run_config(), tags), FROM_DAEMON).status
                for request, tags in submissions]  # fmt: skip

    assert statuses == [DagsterRunStatus.QUEUED] * 3 + [DagsterRunStatus.CANCELED]


def test_a_repeat_says_which_export_it_repeats_in_the_audit(instance):
    request = ExportRequest(user="analyst", dataset="orders", format="jsonl")
    first = instance.submit_run(_new_run(instance, request.run_config(), request.run_tags()), FROM_DAEMON)
    repeat = instance.submit_run(_new_run(instance, request.run_config(), request.run_tags()), FROM_DAEMON)

    record = audit_record_for_run(instance, repeat.run_id)

    assert record.status == "CANCELED"
    assert record.error.startswith(f"Not run: the same user asked for the same export in run {first.run_id}")
