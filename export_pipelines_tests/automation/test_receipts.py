"""Admission receipts, re-executions, retries and typed tags: a run exports only what the gate admitted for it,
whatever door it came through."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from export_pipelines.automation.admission import TAG_SUBMITTED_VIA, SubmissionRefused
from export_pipelines.request.model import ExportRequest
from export_pipelines.run import step_outputs
from export_pipelines.run.jobs import export_job
from export_pipelines.security.receipts import AUDIENCE, ISSUER, TAG_ADMISSION, Receipt, read_receipt, sign_receipt
from export_pipelines.security.signing_keys import SigningKeys
from export_pipelines_tests.automation.doors import FROM_DAEMON, FROM_WEBSERVER, new_run, start, step_failure

PROJECT_DAGSTER_YAML = Path(__file__).parents[2] / "dagster.yaml"
VICTIM = ExportRequest(user="admin", dataset="customers", format="csv")  # every tenant's customers
THIEF = ExportRequest(user="analyst", dataset="orders", format="csv")
# The step after validate_request that reads rows. (Selecting its dynamic downstream steps too makes Dagster's
# in-process executor wait forever once collect_chunks fails in a re-execution; the gate refuses those anyway.)
# The steps after validate_request: skip_empty_export is the first to load the stored plan.
AFTER_VALIDATION = ["skip_empty_export", "collect_chunks"]
TOKEN = "export/request_token"


@pytest.fixture
def instance(dagster_home, tmp_path, monkeypatch, sqlite_url, application):
    """The project's instance (the gate in front), signed submissions required, a seeded source."""
    for name in ("EXPORT_TRUST_UNSIGNED_SUBMISSIONS", "EXPORT_MAX_QUEUED_PER_USER", "EXPORT_DEDUPE_WINDOW_SECONDS",
                 "EXPORT_STORAGE_URL", "EXPORT_ADMISSION_KEYS", "SMTP_HOST"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    shutil.copy(PROJECT_DAGSTER_YAML, dagster_home / "dagster.yaml")
    config = dagster_home / "dagster.yaml"
    # Signed submissions only; and submitted runs wait in the queue (no daemon here), where these tests look at them.
    text = config.read_text().replace("unsigned_submissions: true", "unsigned_submissions: false")
    config.write_text(text.replace("launch_on_submission: true", "launch_on_submission: false"))
    with DagsterInstance.get() as instance:
        yield instance


def _published(tmp_path) -> list[Path]:
    return [p for p in (tmp_path / "var" / "exports" / "files").rglob("*") if p.is_file()]


def _victim_with_stored_plan(instance, application) -> str:
    """The admin's export, admitted and stopped after validate_request: its plan is in stored step outputs."""
    tags = {**VICTIM.run_tags(), "export/request_token": application.token(VICTIM)}
    victim = new_run(instance, VICTIM.run_config(), tags, steps=["validate_request"])
    assert instance.submit_run(victim, FROM_WEBSERVER).status == DagsterRunStatus.QUEUED
    assert start(instance, victim).status == DagsterRunStatus.SUCCESS
    return victim


def test_a_run_the_gate_never_admitted_reads_nothing(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", f"sqlite:///{tmp_path / 'absent.sqlite'}")  # never opened

    result = export_job.execute_in_process(run_config=THIEF.run_config(), instance=instance, raise_on_error=False)

    assert not result.success
    step, message = step_failure(instance, result.run_id)
    assert step == "validate_request" and "was not admitted by the submission gate" in message
    assert not (tmp_path / "absent.sqlite").exists()


def test_the_gate_signs_a_receipt_for_the_run_it_admits(instance, application):
    run_id = new_run(instance, THIEF.run_config(), {"export/request_token": application.token(THIEF)})

    run = instance.submit_run(run_id, FROM_WEBSERVER)

    receipt = read_receipt(run.tags, run_id)
    assert receipt == Receipt(run_id, "analyst", "orders", THIEF.digest(), "webserver", None)


def test_a_receipt_copied_to_another_run_admits_nothing(instance, tmp_path):
    admitted = instance.submit_run(new_run(instance, THIEF.run_config()), FROM_DAEMON)
    copy = new_run(instance, THIEF.run_config(), {TAG_ADMISSION: admitted.tags[TAG_ADMISSION]})

    ended = start(instance, copy)

    assert ended.status == DagsterRunStatus.FAILURE
    step, message = step_failure(instance, copy)
    assert step == "validate_request" and f"carries the admission receipt of run {admitted.run_id}" in message
    assert _published(tmp_path) == []


def test_a_receipt_signed_with_any_other_key_admits_nothing(instance, tmp_path):
    instance.submit_run(new_run(instance, THIEF.run_config()), FROM_DAEMON)  # the deployment has its key
    run_id = new_run(instance, THIEF.run_config())
    forged = SigningKeys.generate().sign(
        {**Receipt(run_id, "analyst", "orders", THIEF.digest(), "daemon").claims(), "aud": AUDIENCE, "iss": ISSUER}
    )
    instance.add_run_tags(run_id, {TAG_ADMISSION: forged})

    assert start(instance, run_id).status == DagsterRunStatus.FAILURE
    assert "is not a receipt signed by this deployment's gate" in step_failure(instance, run_id)[1]


def _re_execution_past_the_gate(instance, victim: str, request: ExportRequest) -> str:
    """A run of the steps after validate_request of ``victim`` with ``request``, admitted for itself (as the gate
    did before it checked re-executions): the door the gate now closes, left open to test the steps behind it."""
    run_id = new_run(instance, request.run_config(), request.run_tags(), parent_run_id=victim, steps=AFTER_VALIDATION)
    assert "validate_request" not in instance.get_run_by_id(run_id).step_keys_to_execute
    receipt = Receipt(run_id, request.user, request.dataset, request.digest(), "webserver", victim)
    instance.add_run_tags(run_id, sign_receipt(receipt))
    return run_id


@pytest.mark.parametrize(
    ("request_", "whose"),
    [(THIEF, "another user's run"), (VICTIM.model_copy(update={"format": "jsonl"}), "a run of another request")],
)
def test_the_loader_refuses_an_output_stored_by_another_admission_before_a_row_is_read(
    instance, application, tmp_path, request_, whose
):
    """The theft: re-execute the step after validate_request of the admin's run, with one's own request.

    The thief's run is handed the admin's plan from the stored step outputs: the step-output loader refuses
    it before the step's code sees it (the message is the loader's, not the step's own check).
    """
    victim = _victim_with_stored_plan(instance, application)
    thief = _re_execution_past_the_gate(instance, victim, request_)

    ended = start(instance, thief)

    assert ended.status == DagsterRunStatus.FAILURE
    step, message = step_failure(instance, thief)
    assert step == "skip_empty_export" and f"stored by run {victim}, {whose}" in message
    outputs = [r for r in instance.all_logs(thief) if r.dagster_event and r.dagster_event.is_successful_output]
    assert outputs == [], "no step produced anything"
    assert _published(tmp_path) == []
    staged = tmp_path / "var" / "exports" / "_staging" / thief / "data"
    assert not staged.exists() or not any(staged.rglob("*.*"))


def test_the_step_refuses_another_users_plan_even_if_the_loader_hands_it_over(instance, application, monkeypatch):
    """The first line of defence alone: with the loader's check gone, the step's own check refuses the plan."""
    monkeypatch.setattr(step_outputs, "_refuse_another_admissions_output", lambda *args: None)
    victim = _victim_with_stored_plan(instance, application)
    thief = _re_execution_past_the_gate(instance, victim, THIEF)

    assert start(instance, thief).status == DagsterRunStatus.FAILURE
    step, message = step_failure(instance, thief)
    assert step == "skip_empty_export" and "another user's request, not the one the gate admitted" in message


def test_ones_own_re_execution_loads_what_its_parent_stored(instance, application, tmp_path):
    victim = _victim_with_stored_plan(instance, application)
    again = _re_execution_past_the_gate(instance, victim, VICTIM)

    assert start(instance, again).status == DagsterRunStatus.SUCCESS
    assert any((tmp_path / "var" / "exports" / "_staging" / again / "data").rglob("*.*")), "it read and staged rows"


def _refusal(instance, run_id, workspace=FROM_WEBSERVER) -> str:
    with pytest.raises(SubmissionRefused) as refused:
        instance.submit_run(run_id, workspace)
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
    return refused.value.reason


def test_re_executing_another_users_run_is_refused_at_submission(instance, application):
    victim = _victim_with_stored_plan(instance, application)
    tags = {**THIEF.run_tags(), TOKEN: application.token(THIEF)}
    every_step = new_run(instance, THIEF.run_config(), tags, parent_run_id=victim)

    assert "is another user's export" in _refusal(instance, every_step)


def test_a_re_execution_of_some_steps_is_refused_saying_to_re_execute_all(instance, application):
    victim = _victim_with_stored_plan(instance, application)
    own = new_run(instance, VICTIM.run_config(), {TOKEN: application.token(VICTIM)}, parent_run_id=victim,
                  steps=["collect_chunks*"])  # fmt: skip

    assert "re-execute all steps, not from failure or selected steps" in _refusal(instance, own)


def test_a_re_execution_with_another_request_is_refused(instance, application):
    victim = _victim_with_stored_plan(instance, application)
    wider = VICTIM.model_copy(update={"format": "jsonl"})
    tags = {**wider.run_tags(), TOKEN: application.token(wider)}
    changed = new_run(instance, wider.run_config(), tags, parent_run_id=victim)

    assert "holds another request" in _refusal(instance, changed)


def test_ones_own_run_is_re_executed_with_a_receipt_naming_its_parent(instance, application):
    victim = _victim_with_stored_plan(instance, application)
    again = new_run(instance, VICTIM.run_config(), {TOKEN: application.token(VICTIM)}, parent_run_id=victim)

    run = instance.submit_run(again, FROM_WEBSERVER)

    assert run.status == DagsterRunStatus.QUEUED
    receipt = read_receipt(run.tags, again)
    assert (receipt.user, receipt.parent_run_id, receipt.via) == ("admin", victim, "webserver")


def test_a_retry_by_the_daemon_keeps_its_parents_provenance(instance, application):
    parent = new_run(instance, THIEF.run_config(), {TOKEN: application.token(THIEF)})
    assert instance.submit_run(parent, FROM_WEBSERVER).status == DagsterRunStatus.QUEUED
    # The retry carries its parent's tags and whatever else is on it; a sensor name says nothing.
    forged = {"dagster/sensor_name": "export_request_sensor"}
    retry = new_run(instance, THIEF.run_config(), forged, parent_run_id=parent)

    run = instance.submit_run(retry, FROM_DAEMON)

    assert run.tags[TAG_SUBMITTED_VIA] == "webserver"
    assert read_receipt(run.tags, retry).via == "webserver"


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("dagster/sensor_name", "export_request_sensor"),
        ("dagster/schedule_name", "nightly"),
        ("dagster/max_retries", "5"),
        ("dagster/priority", "10"),
        ("dagster-celery/run_priority", "9"),
        ("dagster/max_runtime", "999999"),
        ("dagster/retry_strategy", "FROM_FAILURE"),
        ("export/admission", "x.y.z"),
        ("export/subscription", "every_five_minutes"),
    ],
)
def test_a_tag_only_the_deployment_sets_is_refused_by_name(instance, application, tag, value):
    run_id = new_run(instance, THIEF.run_config(), {TOKEN: application.token(THIEF), tag: value})

    assert f"run tag {tag}" in _refusal(instance, run_id)


def test_a_submitter_may_ask_for_a_smaller_runtime_cap_and_fewer_retries(instance, application):
    tags = {TOKEN: application.token(THIEF), "dagster/max_runtime": "2", "dagster/max_retries": "0", "team": "x"}

    run = instance.submit_run(new_run(instance, THIEF.run_config(), tags), FROM_WEBSERVER)

    assert run.status == DagsterRunStatus.QUEUED
