"""A run that starts with an older release's code version tag (as a retry copies its parent's) runs
with the code it is given: the executor re-tags it, and steps read the tag as it is now."""

from __future__ import annotations

import uuid

from dagster import DagsterInstance, reconstructable
from dagster._core.execution.api import execute_run

from export_pipelines.automation.launch import _export_job
from export_pipelines.observability.code_version import CODE_VERSION_TAG
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.automation.doors import receipt_tags


def test_a_run_carrying_its_parents_older_code_version_still_runs(export_env):
    request = ExportRequest(user="admin", dataset="orders", format="csv")
    run_config = {**request.run_config(), "execution": {"config": {"in_process": {}}}}
    instance = DagsterInstance.get()
    job = reconstructable(_export_job)
    run_id = str(uuid.uuid4())
    tags = {**receipt_tags(run_id, request), CODE_VERSION_TAG: "release-before-the-deploy"}
    run = instance.create_run_for_job(job.get_definition(), run_id=run_id, run_config=run_config, tags=tags,
                                      job_code_origin=job.get_python_origin())  # fmt: skip

    result = execute_run(job, run, instance)

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert instance.get_run_by_id(run_id).tags[CODE_VERSION_TAG] != tags[CODE_VERSION_TAG]
