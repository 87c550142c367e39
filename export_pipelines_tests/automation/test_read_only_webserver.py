"""The viewers' webserver of deploy/webservers: a real ``dagster-webserver --read-only`` on the deployment's
instance refuses, through GraphQL as the UI sends it, every operator action: launching a run, deleting
one, wiping assets (the download log and the kept file records) and stopping a sensor. Reads still work.
"""

from __future__ import annotations

import pytest

from export_pipelines_tests.automation.dagster_dev import DagsterDev

SELECTOR = {"repositoryLocationName": "export_pipelines", "repositoryName": "__repository__"}
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on PythonError { message } } }"""
DELETE = "mutation($runId: String!) { deleteRun(runId: $runId) { __typename } }"
WIPE = """mutation($ranges: [PartitionsByAssetSelector!]!) { wipeAssets(assetPartitionRanges: $ranges) {
  __typename } }"""
SENSORS = """query($selector: RepositorySelector!) { sensorsOrError(repositorySelector: $selector) {
  ... on Sensors { results { name jobOriginId sensorState { id selectorId status } } } } }"""
STOP_SENSOR = """mutation($origin: String!, $selector: String!) {
  stopSensor(jobOriginId: $origin, jobSelectorId: $selector) { __typename } }"""
RUNS = "{ runsOrError { ... on Runs { results { runId } } } }"


@pytest.fixture
def viewers(tmp_path, sqlite_url):
    """A finished export in the instance, and the read-only webserver over it."""
    from dagster import DagsterInstance

    from export_pipelines.automation.launch import run_export
    from export_pipelines.request.model import ExportRequest

    env = {"EXPORT_SOURCE_DB_URL": sqlite_url, "EXPORT_DATA_DIR": str(tmp_path / "var")}
    dev = DagsterDev(tmp_path, env, read_only=True)
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)
        with DagsterInstance.get() as instance:
            record, _ = run_export(ExportRequest(user="admin", dataset="orders", format="csv"), instance, "CRITICAL")
        assert record.status == "SUCCESS", record.error
        dev.start()
        try:
            yield dev, record
        finally:
            dev.stop()


def test_the_read_only_webserver_refuses_every_operator_action(viewers):
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    from export_pipelines.observability.audit import FILES_ASSET

    dev, record = viewers
    params = {"selector": {**SELECTOR, "jobName": "export_job"},
              "runConfigData": {"ops": {"validate_request": {"config": {"user": "admin", "dataset": "orders"}}}}}
    [sensor, *_] = dev.graphql(SENSORS, {"selector": SELECTOR})["sensorsOrError"]["results"]
    runs_before = dev.graphql(RUNS)["runsOrError"]["results"]

    answers = {
        "launchRun": dev.graphql(LAUNCH, {"params": params})["launchRun"]["__typename"],
        "deleteRun": dev.graphql(DELETE, {"runId": record.run_id})["deleteRun"]["__typename"],
        "wipeAssets": dev.graphql(WIPE, {"ranges": [{"assetKey": {"path": ["export_files"]}},
                                                    {"assetKey": {"path": ["export_downloads"]}}]}
                                  )["wipeAssets"]["__typename"],  # fmt: skip
        "stopSensor": dev.graphql(STOP_SENSOR, {"origin": sensor["jobOriginId"],
                                                "selector": sensor["sensorState"]["selectorId"]}
                                  )["stopSensor"]["__typename"],  # fmt: skip
    }

    assert answers == dict.fromkeys(answers, "UnauthorizedError"), answers
    assert dev.graphql(RUNS)["runsOrError"]["results"] == runs_before and {"runId": record.run_id} in runs_before
    [after] = [s for s in dev.graphql(SENSORS, {"selector": SELECTOR})["sensorsOrError"]["results"]
               if s["name"] == sensor["name"]]  # fmt: skip
    assert after["sensorState"]["status"] == sensor["sensorState"]["status"]
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)
        with DagsterInstance.get() as instance:
            kept = instance.fetch_observations(AssetRecordsFilter(asset_key=FILES_ASSET), limit=10).records
    assert [k.partition_key for k in kept] == [record.run_id] and AssetKey("export_files") == FILES_ASSET
