"""Sealed runs in a real webserver and daemon (`dagster dev`, the project's dagster.yaml, signatures required).

What only a real deployment shows:

- The re-execution theft: the admin's export of every tenant's customers, whose run worker is killed
  after ``validate_request`` stored its plan; then another user re-executes the steps after
  ``validate_request`` through GraphQL with their own request and token. The gate refuses it. A
  re-execution that got past the gate (queued here directly, as the gate let it before admission
  receipts) is refused by its run worker when it loads the stored plan. Nothing is read, published or linked.
- The per-user running limit on every path: 12 long exports of one user through GraphQL and the command
  line at once run exactly 10 at a time, the rest waiting (or refused, at the command line), while
  another user's export starts.

Exports wait at their first row on a lock the test holds (``held_source``), so what is seen is
evidence, not a race with the machine's speed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from export_pipelines.automation.typed_tags import TAG_REQUEST_TOKEN
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines.security.receipts import Receipt, sign_receipt
from export_pipelines_tests.automation.conftest import Application
from export_pipelines_tests.automation.dagster_dev import DagsterDev
from export_pipelines_tests.automation.doors import new_run, step_failure
from export_pipelines_tests.automation.held_source import HeldSource

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

LOCATION = {"repositoryLocationName": "export_pipelines", "repositoryName": "__repository__"}
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
VICTIM = ExportRequest(user="admin", dataset="customers", format="csv", title="every tenant")
THIEF = ExportRequest(user="analyst", dataset="orders", format="csv", title="my own")
# Every step after validate_request, as the UI's "re-execute from selected" sends them for a mapped step.
AFTER_VALIDATION = ["skip_empty_export", "collect_chunks", "transform_chunk[?]", "render_file", "upload_file",
                    "notify_recipients"]
USER_LIMIT = 10  # dagster.yaml: tag_concurrency_limits on export/user
REEXECUTE = """mutation Reexecute($executionParams: ExecutionParams!) {
  launchRunReexecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
  }
}"""


@dataclass
class Deployment:
    dev: DagsterDev
    application: Application
    source: HeldSource

    def submit(self, request: ExportRequest, **tags: str) -> str:
        """Through GraphQL, as the application does, with a token it signed for ``request``."""
        tags = {TAG_REQUEST_TOKEN: self.application.token(request), **tags}
        return self.dev.client.submit_job_execution(
            "export_job", run_config=request.run_config(), tags=tags,
            repository_location_name=LOCATION["repositoryLocationName"], repository_name=LOCATION["repositoryName"],
        )  # fmt: skip

    def published(self) -> set[Path]:
        return {path for path in (self.dev.work / "var" / "exports" / "files").rglob("*") if path.is_file()}

    def staged(self, run_id: str) -> list[Path]:
        return [path for path in (self.dev.work / "var" / "exports" / "_staging" / run_id).rglob("*") if path.is_file()]


@pytest.fixture(scope="module")
def deployment(postgres_database, tmp_path_factory):
    work = tmp_path_factory.mktemp("sealed")
    source = HeldSource.create(postgres_database, work)
    application = Application(ed25519.Ed25519PrivateKey.generate())
    (work / "app.pub.pem").write_bytes(application.public_pem)
    env = {"EXPORT_SOURCE_DB_URL": source.url, "EXPORT_CATALOG_PATH": str(source.catalog),
           "EXPORT_DATA_DIR": str(work / "var"),
           "EXPORT_REQUEST_TOKEN_PUBLIC_KEY": str(work / "app.pub.pem"),
           "EXPORT_LAUNCH_ON_SUBMISSION": "1"}  # the shipped config's launch at submission, racing the daemon
    dev = DagsterDev(work, env, lambda config: config["run_coordinator"]["config"].update(
        trust_unsigned_submissions=False))  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)  # this process reads the same instance, source and files back
        dev.start()
        try:
            yield Deployment(dev, application, source)
        finally:
            dev.stop()


@pytest.fixture(scope="module")
def killed_victim(deployment) -> str:
    """The admin's run: its plan (every tenant) stored by validate_request, its worker killed in collect_chunks."""
    instance = DagsterInstance.get()
    with deployment.source.hold():
        victim = deployment.submit(VICTIM, **{"dagster/max_retries": "0"})  # the daemon does not run it again
        stored = "the victim's plan to be stored and collect_chunks to wait at its first row"
        deployment.dev.wait_until(lambda: _step_started(instance, victim, "collect_chunks"), 300, stored)
        pid = _worker_pid(instance, victim)
        os.kill(pid, signal.SIGKILL)
        deployment.dev.wait_until(lambda: not _alive(pid), 60, f"the victim's run worker {pid} to die")
    assert deployment.staged(victim), "the victim's plan is in its stored step outputs"
    return victim


@pytest.mark.parametrize(
    ("steps", "reason"),
    [(AFTER_VALIDATION, "re-execute all steps, not from failure or selected steps"), (None, "another user's export")],
)
def test_re_executing_another_users_killed_run_through_graphql_is_refused_and_reads_nothing(
    deployment, killed_victim, steps, reason
):
    instance, before = DagsterInstance.get(), deployment.published()
    earlier = {run.run_id for run in instance.get_runs(RunsFilter(job_name="export_job"))}
    metadata = {"parentRunId": killed_victim, "rootRunId": killed_victim,
                "tags": [{"key": TAG_REQUEST_TOKEN, "value": deployment.application.token(THIEF)}]}  # fmt: skip
    params = {"selector": {**LOCATION, "jobName": "export_job"}, "runConfigData": THIEF.run_config(),
              "mode": "default", "stepKeys": steps, "executionMetadata": metadata}  # fmt: skip

    answer = deployment.dev.graphql(REEXECUTE, {"executionParams": params})["launchRunReexecution"]

    assert answer["__typename"] == "PythonError", answer
    assert "export refused" in answer["message"] and reason in answer["message"]
    runs = instance.get_runs(RunsFilter(job_name="export_job"))
    (thief,) = [run for run in runs if run.run_id not in earlier]
    assert thief.parent_run_id == killed_victim and thief.status == DagsterRunStatus.FAILURE
    _assert_nothing_done(deployment, instance, thief.run_id, before)
    events = [r.dagster_event.event_type for r in instance.all_logs(thief.run_id) if r.dagster_event]
    assert DagsterEventType.RUN_START not in events and DagsterEventType.STEP_START not in events


def test_a_re_execution_past_the_gate_is_refused_by_its_run_worker_before_a_row_is_read(deployment, killed_victim):
    instance, before = DagsterInstance.get(), deployment.published()
    thief = new_run(instance, THIEF.run_config(), THIEF.run_tags(), killed_victim, steps=["collect_chunks"])
    receipt = Receipt(thief, "analyst", "orders", THIEF.digest(), "webserver", killed_victim)  # admitted for itself
    instance.add_run_tags(thief, sign_receipt(receipt))
    instance.report_dagster_event(DagsterEvent.job_enqueue(instance.get_run_by_id(thief)), thief)  # past the gate

    assert deployment.dev.wait_for_run(thief, FINISHED, seconds=300) == "FAILURE"

    step, message = step_failure(instance, thief)
    assert step == "collect_chunks" and f"stored by run {killed_victim}, another user's run" in message
    _assert_nothing_done(deployment, instance, thief, before)


def test_the_owner_re_executes_a_killed_run_with_all_steps_and_not_from_failure(deployment, killed_victim):
    """README's promise for the victim's own run, through the webserver: "re-execute from failure" (the UI sends
    the failed step and those after it) is refused saying to re-execute all steps; all steps run and succeed."""
    instance = DagsterInstance.get()

    def reexecute(steps: list[str] | None) -> dict:
        metadata = {"parentRunId": killed_victim, "rootRunId": killed_victim,
                    "tags": [{"key": TAG_REQUEST_TOKEN, "value": deployment.application.token(VICTIM)}]}  # fmt: skip
        params = {"selector": {**LOCATION, "jobName": "export_job"}, "runConfigData": VICTIM.run_config(),
                  "mode": "default", "stepKeys": steps, "executionMetadata": metadata}  # fmt: skip
        return deployment.dev.graphql(REEXECUTE, {"executionParams": params})["launchRunReexecution"]

    from_failure = reexecute(AFTER_VALIDATION)
    assert from_failure["__typename"] == "PythonError", from_failure
    assert "re-execute all steps, not from failure or selected steps" in from_failure["message"]

    again = reexecute(None)

    assert again["__typename"] == "LaunchRunSuccess", again
    run_id = again["run"]["runId"]
    assert deployment.dev.wait_for_run(run_id, FINISHED, seconds=300) == "SUCCESS"
    assert instance.get_run_by_id(run_id).parent_run_id == killed_victim
    record = audit_record_for_run(instance, run_id)
    assert record.user == "admin" and record.rows and record.file_key


def _assert_nothing_done(deployment: Deployment, instance, thief: str, published_before: set[Path]) -> None:
    outputs = [r for r in instance.all_logs(thief) if r.dagster_event and r.dagster_event.is_successful_output]
    assert outputs == [], "no step of the thief's run produced anything"
    assert deployment.staged(thief) == [], "no row was read"
    assert deployment.published() == published_before, "no file was published"
    record = audit_record_for_run(instance, thief)
    assert record.file_key is None and record.rows is None and record.link is None


def test_twelve_exports_of_one_user_through_graphql_and_the_command_line_run_exactly_ten_at_once(deployment):
    dev, instance, since = deployment.dev, DagsterInstance.get(), datetime.now(UTC)
    with deployment.source.hold() as hold:
        commands = [_command(dev, "cli 0"), _command(dev, "cli 1")]
        ended = lambda: [c for c in commands if c.poll() is not None]  # noqa: E731
        started = lambda: len(_runs(instance, since, DagsterRunStatus.STARTED)) == 2  # noqa: E731
        dev.wait_until(lambda: started() or ended(), 300, "the two commands' exports to start")
        assert not ended(), f"a command ended instead of exporting: {[c.communicate()[1] for c in ended()]}"
        with ThreadPoolExecutor(max_workers=4) as pool:  # a third command and nine submissions, at the same moment
            late = pool.submit(_command, dev, "cli 2")
            mine = list(pool.map(lambda n: deployment.submit(_load(n)), range(9)))
            commands.append(late.result())
        other = deployment.submit(ExportRequest(user="admin", dataset="orders", title="meanwhile"))

        def settled() -> bool:  # the other user's run started after analyst's: the daemon weighed them all
            started = _runs(instance, since, DagsterRunStatus.STARTED)
            late_done = commands[2].poll() is not None or len(_runs(instance, since, via="cli")) == 3
            return len(started) >= USER_LIMIT and late_done and _status(instance, other) == DagsterRunStatus.STARTED

        dev.wait_until(settled, 300, f"{USER_LIMIT} of analyst's exports and admin's to be running")
        going = _runs(instance, since, DagsterRunStatus.STARTED, DagsterRunStatus.STARTING)
        waiting = [run_id for run_id in mine if _status(instance, run_id) == DagsterRunStatus.QUEUED]
        refused = [c for c in commands if c.poll() is not None]
        released_at = datetime.now(UTC).timestamp()
        hold.release()

    assert len(going) == USER_LIMIT and len(waiting) + len(refused) == 12 - USER_LIMIT
    for command in refused:
        assert command.returncode != 0 and "already has 10 exports running" in command.communicate(timeout=60)[1]
    assert {dev.wait_for_run(run_id, FINISHED, seconds=300) for run_id in [*mine, other]} == {"SUCCESS"}
    assert all(command.wait(timeout=300) == 0 for command in commands if command not in refused)
    records = instance.get_run_records(RunsFilter(tags={TAG_USER: "analyst"}, created_after=since))
    assert len(records) == 12 - len(refused)
    at_release = [r for r in records if r.start_time < released_at and (r.end_time or released_at) >= released_at]
    assert len(at_release) == USER_LIMIT, "exactly ten of analyst's exports were going when the lock was released"


def _load(n: int) -> ExportRequest:
    return ExportRequest(user="analyst", dataset="orders", format="csv", title=f"load {n}")  # distinct: no dedupe


def _command(dev: DagsterDev, title: str) -> subprocess.Popen:
    """``export-pipelines export`` for analyst on the deployment's instance, as an operator types it."""
    executable = Path(sys.executable).with_name("export-pipelines")
    return subprocess.Popen(
        [str(executable), "export", "--user", "analyst", "--dataset", "orders", "--format", "csv", "--title", title],
        cwd=dev.work, env=dev.environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _runs(instance, since: datetime, *statuses: DagsterRunStatus, via: str | None = None) -> list[str]:
    """Analyst's runs created since ``since`` in ``statuses`` (any when none), optionally only those ``via``."""
    tags = {TAG_USER: "analyst", **({"export/submitted_via": via} if via else {})}
    runs = instance.get_runs(RunsFilter(tags=tags, statuses=list(statuses) or None, created_after=since))
    return [run.run_id for run in runs]


def _status(instance, run_id: str) -> DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def _step_started(instance, run_id: str, step: str) -> bool:
    return any(r.dagster_event.step_key == step for r in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START))


def _worker_pid(instance, run_id: str) -> int:
    """The run worker's pid, as it reported it ("Started process for run (pid: N).")."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        found = re.search(r"Started process for run \(pid: (\d+)\)", record.message or "")
        if found:
            return int(found.group(1))
    raise AssertionError(f"run {run_id} reported no worker process")


def _alive(pid: int) -> bool:
    """Running, or stopped but not yet reaped (a zombie is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
