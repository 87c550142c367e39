"""A run that starts with an older release's code version tag (as a retry copies its parent's) runs
with the code it is given: the executor re-tags it, and steps read the tag as it is now."""

from __future__ import annotations

from dagster import DagsterInstance, execute_job, reconstructable

from export_pipelines.request.model import ExportRequest
from export_pipelines.run.launch import _export_job
from export_pipelines.scaleout.code_version import CODE_VERSION_TAG


def test_a_run_carrying_its_parents_older_code_version_still_runs(export_env):
    request = ExportRequest(user="admin", dataset="orders", format="csv")
    run_config = {**request.run_config(), "execution": {"config": {"in_process": {}}}}
    tags = {**request.run_tags(), CODE_VERSION_TAG: "release-before-the-deploy"}

    with execute_job(reconstructable(_export_job), DagsterInstance.get(), run_config=run_config, tags=tags) as result:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        assert DagsterInstance.get().get_run_by_id(result.run_id).tags[CODE_VERSION_TAG] != tags[CODE_VERSION_TAG]
