"""Running an export from this process, recorded in the Dagster instance like any other run."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, reconstructable
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.tags import MAX_RETRIES_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_run_id

from export_pipelines.observability.audit import AuditRecord, audit_record_for_run
from export_pipelines.request.model import ExportRequest
from export_pipelines.security.private_files import make_private_folder, write_private
from export_pipelines.settings import data_dir

EXECUTORS = ("in_process", "multiprocess", "celery")
# The code location of workspace.yaml (a test keeps them equal): its module, its name, and the name Dagster
# gives the one repository of a Definitions object.
DEFINITIONS_MODULE = "export_pipelines.definitions"
CODE_LOCATION = "export_pipelines"
REPOSITORY = "__repository__"


def local_instance() -> DagsterInstance:
    """The instance under $DAGSTER_HOME; with none set, the embedded default's, ``$EXPORT_DATA_DIR/dagster_home``.

    That is the folder the Makefile uses too, so ``make demo``, the command typed in a shell, ``serve`` and
    ``make dev`` share one run history. A home made here is private (0700; the command's umask makes its
    SQLite files 0600) and holds the project's dagster.yaml when this is a checkout of the project.
    """
    if not os.environ.get("DAGSTER_HOME"):
        home = embedded_home()
        if not home.is_dir():
            make_private_folder(home)
        config = home / "dagster.yaml"
        if not config.exists():
            write_private(config, _instance_config())
        os.environ["DAGSTER_HOME"] = str(home)
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return DagsterInstance.get()


def embedded_home() -> Path:
    return data_dir() / "dagster_home"


def _instance_config() -> str:
    """The project's dagster.yaml (what the Makefile copies), or, installed without it, telemetry off alone."""
    import export_pipelines

    template = Path(export_pipelines.__file__).resolve().parents[1] / "dagster.yaml"
    return template.read_text() if template.is_file() else "telemetry:\n  enabled: false\n"


def _export_job():
    from export_pipelines.run.jobs import export_job

    return export_job


def workspace_job_origin(job_name: str) -> RemoteJobOrigin:
    """Where a run of ``job_name`` launched from the UI comes from: workspace.yaml's code location.

    A run carrying it is listed with the runs launched there: the UI groups runs by code location
    and job (the Overview timeline leaves out runs without one), and can re-execute it.
    """
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(module_name=DEFINITIONS_MODULE), location_name=CODE_LOCATION
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, REPOSITORY), job_name)


def _admitted_tags(instance: DagsterInstance, request: ExportRequest, run_config: dict, run_id: str) -> dict[str, str]:
    """The submission gate's checks, as for a queued run, and the receipt of run ``run_id``; raises SubmissionRefused.

    The command line runs in this process, past any run coordinator, so it calls the gate's checks
    itself. A shell on the deployment is trusted to say who the export is for. It does not dedupe: an
    operator who runs an export again means it, and waits for its file. The request's fields are
    checked by the run's first step, so a bad request leaves a failed run in history, as it always did.
    """
    from export_pipelines.automation.admission import VIA_CLI, GateSettings, admit

    admission = admit(
        instance, run_config, request.run_tags(), VIA_CLI, GateSettings.from_env(),
        run_id=run_id, dedupe=False, check_fields=False,
    )  # fmt: skip
    return admission.tags


def run_export(
    request: ExportRequest,
    instance: DagsterInstance,
    log_level: str = "INFO",
    executor: str = "in_process",
    executor_config: dict | None = None,
    run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> tuple[AuditRecord, str | None]:
    """Run ``export_job`` in this process; return its audit record and the file's location (if any).

    The run is created with the origin of workspace.yaml's code location, as a run launched from the
    UI is, so the UI lists it with those; then it is executed here. ``in_process`` runs every
    step in this process; ``multiprocess`` and ``celery`` load the job by reference in other
    processes, and the steps' outputs go through the job's IO manager. ``log_level`` only changes
    what this process prints; the run's event log is complete anyway. ``run_id`` names the run to create
    (so that a caller can follow it while it runs); a new id by default. ``extra_tags``: more run tags (a
    subscription's tick's, ``export/subscription``, ``export/skip_if_empty``).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    run_config = {
        **request.run_config(),
        "loggers": {"console": {"config": {"log_level": log_level}}},
        "execution": {"config": {executor: executor_config or {}}},
    }
    from export_pipelines.automation.admission_lock import admission_lock
    from export_pipelines.automation.running_limit import refuse_over_running_limit

    run_id = run_id or make_new_run_id()
    job = reconstructable(_export_job)
    definition = job.get_definition()
    # The user's running limit holds for the command line too: checked, and the run created STARTING (so
    # that it counts), under the lock every submission of this user takes.
    with admission_lock(instance, request.user):
        tags = _admitted_tags(instance, request, run_config, run_id)
        refuse_over_running_limit(instance, request.user)
        run = instance.create_run_for_job(
            job_def=definition,
            run_id=run_id,
            run_config=run_config,
            status=DagsterRunStatus.STARTING,
            # Not retried by the daemon: this command waits for the run and reports how it ended.
            tags={**definition.run_tags, **(extra_tags or {}), **tags, MAX_RETRIES_TAG: "0"},
            remote_job_origin=workspace_job_origin(definition.name),
            job_code_origin=job.get_python_origin(),
        )
    result = execute_run(job, run, instance)  # not entered: that would build the resources again for outputs
    run_id, success = result.run_id, result.success
    record = audit_record_for_run(instance, run_id)
    location = None
    if success and record.file_key:
        from export_pipelines.run.resources import ExportStorageResource

        location = ExportStorageResource().get().location(record.file_key)
    return record, location
