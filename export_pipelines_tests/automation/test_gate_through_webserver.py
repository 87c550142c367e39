"""The submission gate in a real webserver and daemon (`dagster dev`), reached the way users reach it: GraphQL.

The instance is the project's dagster.yaml with two changes a deployment makes or a test needs:
unsigned submissions are not trusted (the application's public key is set), and users whose names
start with ``parked`` may run no export at all (a tag limit of 0), so their runs stay in the queue
where the test can look at them. The launchpad submits through the same GraphQL mutation.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster_graphql import DagsterGraphQLClientError

from export_pipelines.automation.admission import (
    TAG_DUPLICATE_OF,
    TAG_REQUEST_DIGEST,
    TAG_REQUEST_JTI,
    TAG_REQUEST_TOKEN,
    TAG_SUBMITTED_VIA,
)
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER, ExportRequest
from export_pipelines_tests.automation.conftest import Application
from export_pipelines_tests.automation.dagster_dev import PROJECT, DagsterDev
from export_pipelines_tests.automation.sensor_location import SENSOR_REQUEST

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

PARKED = ("parked", "parked-cap", "parked-race", "parked-reuse", "parked-dedupe", "parked-sensor")
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
LOCATION = {"repository_location_name": "export_pipelines", "repository_name": "__repository__"}
SENSOR_LOCATION = {"python_module": {
    "module_name": "export_pipelines_tests.automation.sensor_location",
    "location_name": "sensor_location", "working_directory": str(PROJECT),
}}  # fmt: skip


@pytest.fixture(scope="module")
def server(sqlite_url, tmp_path_factory):
    """`dagster dev` (webserver + daemon) on a free port, signatures required; yields (dev, application)."""
    work = tmp_path_factory.mktemp("gate")
    application = Application(ed25519.Ed25519PrivateKey.generate())
    (work / "request-token.pub.pem").write_bytes(application.public_pem)
    env = {
        "EXPORT_SOURCE_DB_URL": sqlite_url, "EXPORT_DATA_DIR": str(work / "var"),
        "EXPORT_REQUEST_TOKEN_PUBLIC_KEY": str(work / "request-token.pub.pem"),
        "EXPORT_MAX_QUEUED_PER_USER": "2", "EXPORT_DEDUPE_WINDOW_SECONDS": "300",
    }  # fmt: skip
    dev = DagsterDev(work, env, _require_signatures_and_park_users, locations=[SENSOR_LOCATION])
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)  # this process reads the same instance and files back
        dev.start()
        try:
            yield dev, application
        finally:
            dev.stop()


def _require_signatures_and_park_users(config: dict) -> None:
    gate = config["run_coordinator"]["config"]
    gate["trust_unsigned_submissions"] = False
    gate["tag_concurrency_limits"] += [{"key": TAG_USER, "value": user, "limit": 0} for user in PARKED]


def _submit(dev: DagsterDev, request: ExportRequest, token: str | None = None, **tags) -> str:
    if token:
        tags[TAG_REQUEST_TOKEN] = token
    return dev.client.submit_job_execution("export_job", run_config=request.run_config(), tags=tags or None, **LOCATION)


def _refusal(dev: DagsterDev, request: ExportRequest, token: str | None = None, **tags) -> str:
    with pytest.raises(DagsterGraphQLClientError) as refused:
        _submit(dev, request, token, **tags)
    return str(refused.value)


def _refused_runs(user: str) -> list:
    instance = DagsterInstance.get()
    return instance.get_runs(RunsFilter(job_name="export_job", tags={TAG_USER: user}))


def test_a_signed_request_is_tagged_by_the_gate_before_it_is_queued(server):
    dev, application = server
    request = ExportRequest(user="parked", dataset="orders", format="jsonl")

    run_id = _submit(dev, request, application.token(request))  # no export tags typed

    assert dev.wait_for_run(run_id, {"QUEUED", *FINISHED}) == "QUEUED"
    # Evidence of a dequeue round after it: a run of another user, submitted later, leaves the queue.
    control = ExportRequest(user="analyst", dataset="orders", format="jsonl", title=f"control {uuid.uuid4()}")
    control_id = _submit(dev, control, application.token(control))
    dev.wait_for_run(control_id, {"STARTING", "STARTED", *FINISHED})
    run = DagsterInstance.get().get_run_by_id(run_id)  # the per-user limit (0 for parked users) held it back
    assert run.status == DagsterRunStatus.QUEUED
    assert {key: run.tags[key] for key in (TAG_USER, TAG_DATASET, TAG_FORMAT)} == request.run_tags()
    assert run.tags[TAG_REQUEST_DIGEST] == request.digest() and run.tags[TAG_SUBMITTED_VIA] == "webserver"
    assert run.tags[TAG_REQUEST_JTI]


def test_a_signed_request_runs_as_its_user(server):
    dev, application = server
    request = ExportRequest(user="analyst", dataset="orders", format="csv", columns=["order_id", "tenant_id"])

    run_id = _submit(dev, request, application.token(request))

    assert dev.wait_for_run(run_id, FINISHED) == "SUCCESS"
    record = audit_record_for_run(DagsterInstance.get(), run_id)
    assert record.user == "analyst" and record.rows > 0 and record.skipped_rows > 0


def test_an_invalid_request_is_recorded_failed_with_the_reason_and_nothing_is_read(server):
    dev, application = server
    request = ExportRequest(user="analyst", dataset="payroll")

    message = _refusal(dev, request, application.token(request))

    assert "export refused: the request is not valid" in message and "payroll" in message
    instance = DagsterInstance.get()
    (run,) = [r for r in instance.get_runs(RunsFilter(job_name="export_job")) if "payroll" in str(r.run_config)]
    assert run.status == DagsterRunStatus.FAILURE
    events = [e.dagster_event.event_type for e in instance.all_logs(run.run_id) if e.dagster_event]
    assert DagsterEventType.STEP_START not in events and DagsterEventType.RUN_START not in events
    reasons = [e.message for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    assert any("export refused: the request is not valid" in reason and "payroll" in reason for reason in reasons)
    record = audit_record_for_run(instance, run.run_id)  # what `export-pipelines audit` shows
    assert record.status == "FAILURE" and "unknown dataset 'payroll'" in record.error


def test_a_run_config_that_configures_a_resource_is_refused_naming_it(server):
    dev, application = server
    request = ExportRequest(user="analyst", dataset="orders")
    run_config = {**request.run_config(), "resources": {"source": {"config": {"url": "sqlite:////tmp/x.sqlite"}}}}

    with pytest.raises(DagsterGraphQLClientError) as refused:
        dev.client.submit_job_execution(
            "export_job", run_config=run_config, tags={TAG_REQUEST_TOKEN: application.token(request)}, **LOCATION
        )

    assert 'unexpected config entry "url" at path root:resources:source:config' in str(refused.value)


def test_an_unsigned_submission_is_refused_even_dressed_as_a_schedule_run(server):
    dev, _ = server
    request = ExportRequest(user="admin", dataset="orders")

    plain = _refusal(dev, request)
    dressed = _refusal(dev, request, **{"dagster/schedule_name": "nightly"})

    assert "only with a request token from the application" in plain
    assert "run tag dagster/schedule_name is set by the deployment, not by a submission" in dressed


def test_a_token_replayed_for_another_request_is_refused(server):
    dev, application = server
    narrow = ExportRequest(user="analyst", dataset="orders", columns=["order_id"])
    everything = ExportRequest(user="analyst", dataset="orders")

    message = _refusal(dev, everything, application.token(narrow))

    assert "signed for another request" in message


def test_a_token_is_good_for_one_run_only(server):
    dev, application = server
    request = ExportRequest(user="parked-reuse", dataset="orders")
    token = application.token(request)
    _submit(dev, request, token)

    message = _refusal(dev, request, token)

    assert "already used for another run" in message


def test_a_users_queue_is_capped(server):
    dev, application = server
    requests = [ExportRequest(user="parked-cap", dataset="orders", chunk_size=1000 + n) for n in range(3)]
    for request in requests[:2]:
        _submit(dev, request, application.token(request))

    message = _refusal(dev, requests[2], application.token(requests[2]))

    assert "user 'parked-cap' already has 2 exports waiting in the queue (the limit is 2)" in message


def test_concurrent_graphql_submissions_of_one_user_queue_exactly_the_cap(server):
    """Eight posts at the same instant, each answered by its own webserver thread: the gate counts and queues
    under the user's lock (PostgreSQL advisory lock or flock), so exactly 2 are queued and 6 refused."""
    dev, application = server
    requests = [ExportRequest(user="parked-race", dataset="orders", chunk_size=2000 + n) for n in range(8)]
    tokens = [application.token(request) for request in requests]
    start = threading.Barrier(len(requests))

    def submit(index: int) -> str:
        start.wait()
        try:
            return _submit(dev, requests[index], tokens[index])
        except DagsterGraphQLClientError as refused:
            return f"refused: {refused}"

    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(submit, range(len(requests))))

    refused = [answer for answer in answers if answer.startswith("refused: ")]
    assert len(refused) == 6 and all("already has 2 exports waiting" in answer for answer in refused), answers
    race = RunsFilter(tags={TAG_USER: "parked-race"}, statuses=[DagsterRunStatus.QUEUED])
    queued = DagsterInstance.get().get_runs(race)
    assert sorted(run.run_id for run in queued) == sorted(set(answers) - set(refused))


def test_a_graphql_client_reads_an_exports_progress_from_logs_for_run(server):
    """README: the progress observations are in the run's event log, read by GraphQL clients with logsForRun."""
    dev, application = server
    request = ExportRequest(user="analyst", dataset="orders", format="jsonl", chunk_size=250, title="progress")
    run_id = _submit(dev, request, application.token(request))
    assert dev.wait_for_run(run_id, FINISHED) == "SUCCESS"

    events = dev.graphql(LOGS_FOR_RUN, {"runId": run_id})["logsForRun"]["events"]

    progress = [
        {entry["label"]: entry.get("intValue", entry.get("text")) for entry in event["metadataEntries"]}
        for event in events
        if event["__typename"] == "ObservationEvent" and event["assetKey"]["path"] == ["export_progress"]
    ]
    rows = audit_record_for_run(DagsterInstance.get(), run_id).rows
    collected = [p for p in progress if p["step"] == "collect"]
    assert rows > 0 and collected and collected[-1]["rows_done"] == rows, progress
    assert [p["rows_done"] for p in progress if p["step"] == "render"][-1] == rows


LOGS_FOR_RUN = """query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename
      ... on ObservationEvent { assetKey { path } metadataEntries { __typename label
        ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } } } } }
  }
}"""


def test_a_repeat_within_the_window_is_canceled_pointing_at_the_first_run(server):
    dev, application = server
    request = ExportRequest(user="parked-dedupe", dataset="orders")
    first = _submit(dev, request, application.token(request))

    repeat = _submit(dev, request, application.token(request))

    assert dev.wait_for_run(repeat, FINISHED) == "CANCELED"
    assert DagsterInstance.get().get_run_by_id(repeat).tags[TAG_DUPLICATE_OF] == first


def test_a_sensor_of_the_deployment_is_trusted_without_a_token(server):
    dev, _ = server
    runs = dev.wait_until(lambda: _refused_runs("parked-sensor"), 120, "the sensor's run to reach the queue", 1)

    (run,) = runs
    assert run.status == DagsterRunStatus.QUEUED
    assert run.tags[TAG_SUBMITTED_VIA] == "sensor:nightly_export_sensor"
    assert run.tags[TAG_REQUEST_DIGEST] == SENSOR_REQUEST.digest() and TAG_REQUEST_JTI not in run.tags
