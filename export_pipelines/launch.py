"""Running an export from this process, recorded in the Dagster instance like any other run."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance, execute_job, reconstructable

from export_pipelines.audit import AuditRecord, audit_record_for_run
from export_pipelines.request import ExportRequest
from export_pipelines.settings import data_dir

EXECUTORS = ("in_process", "multiprocess", "celery")


def local_instance() -> DagsterInstance:
    """The instance under $DAGSTER_HOME; with none set, one under the data folder, so history persists."""
    if not os.environ.get("DAGSTER_HOME"):
        home = data_dir() / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists():
            config.write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return DagsterInstance.get()


def _export_job():
    from export_pipelines.jobs import export_job

    return export_job


def _admitted_tags(instance: DagsterInstance, request: ExportRequest, run_config: dict) -> dict[str, str]:
    """The submission gate's checks, as for a queued run; raises SubmissionRefused.

    The command line runs in this process, past any run coordinator, so it calls the gate's checks
    itself. A shell on the deployment is trusted to say who the export is for. It does not dedupe: an
    operator who runs an export again means it, and waits for its file. The request's fields are
    checked by the run's first step, so a bad request leaves a failed run in history, as it always did.
    """
    from export_pipelines.automation.admission import VIA_CLI, GateSettings, admit

    admission = admit(
        instance, run_config, request.run_tags(), VIA_CLI, GateSettings.from_env(), dedupe=False, check_fields=False
    )
    return admission.tags


def run_export(
    request: ExportRequest,
    instance: DagsterInstance,
    log_level: str = "INFO",
    executor: str = "in_process",
    executor_config: dict | None = None,
) -> tuple[AuditRecord, str | None]:
    """Run ``export_job``; return its audit record and the file's location (if any).

    ``in_process`` runs every step here. ``multiprocess`` and ``celery`` need the job to be
    reconstructable in other processes, so the job is loaded by reference and the steps' outputs
    go through the instance's file system IO manager. ``log_level`` only changes what this
    process prints; the run's event log is complete anyway.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    run_config = {**request.run_config(), "loggers": {"console": {"config": {"log_level": log_level}}}}
    if executor != "in_process":
        run_config["execution"] = {"config": {executor: executor_config or {}}}
    tags = _admitted_tags(instance, request, run_config)
    if executor == "in_process":
        result = _export_job().execute_in_process(
            run_config=run_config, instance=instance, tags=tags, raise_on_error=False
        )
        run_id, success = result.run_id, result.success
    else:
        with execute_job(reconstructable(_export_job), instance=instance, run_config=run_config, tags=tags) as result:
            run_id, success = result.run_id, result.success
    record = audit_record_for_run(instance, run_id)
    location = None
    if success and record.file_key:
        from export_pipelines.resources import ExportStorageResource

        location = ExportStorageResource().get().location(record.file_key)
    return record, location
