"""Submitting an export from the export API into the instance's run queue, through the submission gate.

The API (``service/api/``) verifies who the caller is from the application's JWT and builds the
``ExportRequest`` with that user; here the run is created NOT_STARTED, with the origin of workspace.yaml's
code location (the daemon launches it from there, and the UI lists it with the launchpad's runs), and
submitted to the instance's run coordinator, the gate: it checks the request, the user's queue cap and the
dedupe window under the user's admission lock, signs the run's receipt and queues it; the daemon launches it
when the user's running limit allows. Nothing is run in the API's process, so every limit of the queue holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, reconstructable
from dagster._core.utils import make_new_run_id

from export_pipelines.automation.admission import VIA_API
from export_pipelines.automation.gate import ExportSubmissionGate
from export_pipelines.automation.launch import _export_job, workspace_job_origin
from export_pipelines.request.model import ExportRequest


class ApiSubmission:
    """What the API hands the gate in place of the webserver's workspace: it says where the submission came
    from (the gate reads ``export_submitted_via``); the queue needs nothing else of it. Only code in the API's
    process can hand it: no request field or run tag can say ``api``."""

    export_submitted_via = VIA_API


def uses_gate(instance: DagsterInstance) -> bool:
    """Whether the instance's runs pass the gate: the API submits into no other queue (its limits would not hold)."""
    return isinstance(instance.run_coordinator, ExportSubmissionGate)


def trusts_unsigned_submissions(instance: DagsterInstance) -> bool:
    """Whether the instance's gate takes a submission's user as typed (the embedded default only)."""
    return uses_gate(instance) and instance.run_coordinator.trusts_unsigned_submissions


@cache
def _job():
    """export_job by reference (its code origin) and its definition: built once per process."""
    job = reconstructable(_export_job)
    return job, job.get_definition()


def submit_export(instance: DagsterInstance, request: ExportRequest, tags: Mapping[str, str]) -> DagsterRun:
    """Create the run of ``request`` and submit it; the queued (or, for a repeat, canceled) run.

    ``tags`` are the API's own (who acted, the idempotency key). A refusal raises SubmissionRefused
    (``QueueFull`` at the user's queue cap) and leaves the run failed with the reason, as a refused
    launchpad submission does.
    """
    job, definition = _job()
    run = instance.create_run_for_job(
        job_def=definition,
        run_id=make_new_run_id(),
        run_config=request.run_config(),
        status=DagsterRunStatus.NOT_STARTED,
        tags={**definition.run_tags, **request.run_tags(), **tags},
        remote_job_origin=workspace_job_origin(definition.name),
        job_code_origin=job.get_python_origin(),
    )
    return instance.submit_run(run.run_id, ApiSubmission())
