"""Running an export on the embedded default: one in-process run recorded in the Dagster instance."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance

from export_pipelines.audit import AuditRecord, audit_record_for_run
from export_pipelines.request import ExportRequest
from export_pipelines.settings import data_dir


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


def run_export(
    request: ExportRequest, instance: DagsterInstance, log_level: str = "INFO"
) -> tuple[AuditRecord, str | None]:
    """Run ``export_job`` in this process; return its audit record and the file's location (if any).

    ``log_level`` only changes what this process prints; the run's event log is complete anyway.
    """
    from export_pipelines.jobs import export_job

    run_config = {**request.run_config(), "loggers": {"console": {"config": {"log_level": log_level}}}}
    result = export_job.execute_in_process(
        run_config=run_config, instance=instance, tags=request.run_tags(), raise_on_error=False
    )
    location = result.output_for_node("upload_file").location if result.success else None
    return audit_record_for_run(instance, result.run_id), location
