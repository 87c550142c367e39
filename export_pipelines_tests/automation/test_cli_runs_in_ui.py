"""An export run from the command line shows in the UI like one launched there: a real webserver, a real CLI.

The Overview timeline asks the webserver for the runs updated in its window (the queries below are
the UI's own, from dagster-webserver's ui-core ``useRunsForTimeline``) and puts each on the row of
its code location, repository and job; a run without a repository origin is left out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from export_pipelines.automation.launch import CODE_LOCATION, DEFINITIONS_MODULE, REPOSITORY
from export_pipelines_tests.automation.dagster_dev import PROJECT, DagsterDev

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

CLI = str(Path(sys.executable).with_name("export-pipelines"))

# ui-core/src/runs/useRunsForTimeline.tsx (COMPLETED_RUN_TIMELINE_QUERY with RUN_TIMELINE_FRAGMENT, RUN_TIME_FRAGMENT)
COMPLETED_RUN_TIMELINE_QUERY = """
query CompletedRunTimelineQuery($completedFilter: RunsFilter!, $limit: Int!, $cursor: String) {
  completed: runsOrError(filter: $completedFilter, limit: $limit, cursor: $cursor) {
    ... on Runs { results { id ...RunTimelineFragment } }
  }
}
fragment RunTimelineFragment on Run {
  id pipelineName externalJobSource tags { key value }
  repositoryOrigin { id repositoryName repositoryLocationName }
  ...RunTimeFragment
}
fragment RunTimeFragment on Run { id status creationTime startTime endTime updateTime }
"""
# The rows the timeline draws: one per job of each repository of each loaded code location.
WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
    ... on RepositoryLocation { name repositories { name origin { id } pipelines { name } } } } } } } }
"""


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """dagster-webserver on the project's workspace.yaml and dagster.yaml, and a seeded demo source."""
    work = tmp_path_factory.mktemp("cli_runs_in_ui")
    dev = DagsterDev(work, {"EXPORT_DATA_DIR": str(work / "var")}, webserver_only=True)
    seeded = subprocess.run([CLI, "seed-demo", "--rows", "300"], env=dev.environment, capture_output=True, text=True)
    assert seeded.returncode == 0, seeded.stderr
    dev.start(seconds=120)
    try:
        yield dev
    finally:
        dev.stop()


def test_the_launch_origin_is_the_code_location_of_workspace_yaml():
    [entry] = yaml.safe_load((PROJECT / "workspace.yaml").read_text())["load_from"]
    assert (entry["python_module"]["module_name"], entry["python_module"]["location_name"]) == (
        DEFINITIONS_MODULE, CODE_LOCATION
    )
    assert (CODE_LOCATION, REPOSITORY) == ("export_pipelines", "__repository__")


def test_a_cli_export_is_on_the_timeline_row_of_its_job(webserver):
    window_start = time.time() - 1

    done = subprocess.run(
        [CLI, "export", "--user", "admin", "--dataset", "orders", "--format", "csv", "--json"],
        env=webserver.environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    completed = webserver.graphql(COMPLETED_RUN_TIMELINE_QUERY, {
        "completedFilter": {"statuses": ["SUCCESS", "FAILURE", "CANCELED"], "updatedAfter": window_start,
                            "updatedBefore": time.time() + 1},
        "limit": 500, "cursor": None,
    })["completed"]["results"]  # fmt: skip
    [run] = [run for run in completed if run["id"] == run_id]
    assert run["status"] == "SUCCESS" and run["startTime"] is not None and run["pipelineName"] == "export_job"
    origin = run["repositoryOrigin"]
    assert origin is not None, "a run without a repository origin is left off the timeline"
    assert (origin["repositoryLocationName"], origin["repositoryName"]) == (CODE_LOCATION, REPOSITORY)
    # The timeline's row for this job: the loaded code location's, and the very origin its own launches carry.
    rows = {
        (entry["name"], repository["name"], job["name"]): repository["origin"]["id"]
        for entry in webserver.graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
        for repository in (entry["locationOrLoadError"] or {}).get("repositories", [])
        for job in repository["pipelines"]
    }
    assert rows.get((CODE_LOCATION, REPOSITORY, "export_job")) == origin["id"]
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert tags["export/submitted_via"] == "cli" and tags["export/user"] == "admin"  # set by the gate's checks
    assert tags["dagster/code_location"] == CODE_LOCATION
