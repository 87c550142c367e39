"""Runs of export_job made the ways Dagster makes them, so a test can push them through any door.

``new_run`` creates a run as the webserver does before it submits it (NOT_STARTED, with the job's
code origin), optionally as a re-execution of a parent's steps: the execution plan then comes from
Dagster's own re-execution code (``ReexecutionOptions``' step selection), which makes the steps load
their inputs from the parent's stored step outputs. ``start`` then runs a queued run in this
process the way the queue daemon and the run worker would (started, then executed). ``receipt_tags``
admits a run a test executes directly.
"""

from __future__ import annotations

import uuid

from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRunStatus, reconstructable
from dagster._core.execution.api import _resolve_reexecute_step_selection, create_execution_plan, execute_run

from export_pipelines.automation.launch import _export_job, workspace_job_origin
from export_pipelines.request.model import ExportRequest
from export_pipelines.security.receipts import Receipt, sign_receipt

FROM_DAEMON = type("DaemonWorkspace", (), {})()  # the daemon's workspace has no HTTP request
FROM_WEBSERVER = type("WebserverWorkspace", (), {"source": object()})()


def new_run(
    instance: DagsterInstance,
    run_config: dict,
    tags: dict | None = None,
    parent_run_id: str | None = None,
    steps: list[str] | None = None,
) -> str:
    """A NOT_STARTED run of export_job; with ``parent_run_id``, a re-execution of ``steps`` (all when None)."""
    job = reconstructable(_export_job)
    plan = None
    parent = instance.get_run_by_id(parent_run_id) if parent_run_id else None
    if parent is not None and steps:
        plan = _resolve_reexecute_step_selection(instance, job, run_config, parent, steps)
    elif steps:
        plan = create_execution_plan(job, run_config, step_keys_to_execute=steps)
    definition = job.get_definition()
    run = instance.create_run_for_job(
        job_def=definition, execution_plan=plan, run_id=str(uuid.uuid4()), run_config=run_config,
        tags={**definition.run_tags, **(parent.tags if parent else {}), **(tags or {})},
        status=DagsterRunStatus.NOT_STARTED, parent_run_id=parent_run_id,
        root_run_id=(parent.root_run_id or parent.run_id) if parent else None,
        remote_job_origin=workspace_job_origin(definition.name), job_code_origin=job.get_python_origin(),
    )  # fmt: skip
    return run.run_id


def start(instance: DagsterInstance, run_id: str):
    """Start a queued run and execute it here, as the daemon and a run worker would; the run as it ended."""
    event = DagsterEvent(event_type_value=DagsterEventType.RUN_STARTING.value, job_name="export_job")
    instance.report_dagster_event(event, run_id)
    execute_run(reconstructable(_export_job), instance.get_run_by_id(run_id), instance)
    return instance.get_run_by_id(run_id)


def receipt_tags(run_id: str, request: ExportRequest, via: str = "cli") -> dict[str, str]:
    """The export tags and the gate's receipt for run ``run_id``: for tests that execute export_job directly,
    as the command line does after running the gate's checks itself."""
    receipt = Receipt(run_id, request.user, request.dataset, request.digest(), via)
    return {**request.run_tags(), **sign_receipt(receipt)}


def step_failure(instance: DagsterInstance, run_id: str) -> tuple[str, str]:
    """The step that failed first in run ``run_id`` and its message; fails the test when no step failed."""
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.is_step_failure:
            return event.step_key, event.step_failure_data.user_failure_data.description
    raise AssertionError(f"run {run_id} has no step failure")
