"""Writing a run's progress back to its ``export_requests`` row: from run status sensors, and by reconciliation.

The status sensors (one per run status, Dagster's ``run_status_sensor``) write each change as it
happens. Dagster moves a status sensor's cursor on even when its body fails (the table was
unreachable, say), so a change can be missed; ``reconcile`` repairs that: run by the request sensor on
each tick, it reads the run of every row still in flight from the instance and writes what it finds.
Both write through ``RequestTable.advance``, which never moves a row backwards, so their order does not
matter and writing the same thing twice changes nothing.

A run belongs to row N when the request sensor made it: tags ``export/request_id`` = N and
``dagster/sensor_name`` = the request sensor. A run admitted by the gate must also carry the gate's own
``export/submitted_via`` = ``sensor:<request sensor>``: a launchpad user can type tags, not that one.
"""

from __future__ import annotations

from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    RunStatusSensorContext,
    SkipReason,
    run_status_sensor,
)

from export_pipelines.automation.admission import TAG_DUPLICATE_OF, TAG_SUBMITTED_VIA
from export_pipelines.automation.request_table import (
    FAILED,
    QUEUED,
    RUNNING,
    SUBMITTED,
    SUCCEEDED,
    RequestRow,
    RequestTable,
)
from export_pipelines.errors import ExportError
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.run.jobs import export_job
from export_pipelines.settings import default_source_url

REQUEST_SENSOR = "export_request_sensor"
TAG_REQUEST_ID = "export/request_id"
SENSOR_NAME_TAG = "dagster/sensor_name"
RUN_KEY_TAG = "dagster/run_key"
ROW_STATUS = {
    DagsterRunStatus.NOT_STARTED: SUBMITTED,
    DagsterRunStatus.QUEUED: QUEUED,
    DagsterRunStatus.STARTING: RUNNING,
    DagsterRunStatus.STARTED: RUNNING,
    DagsterRunStatus.CANCELING: RUNNING,
    DagsterRunStatus.SUCCESS: SUCCEEDED,
    DagsterRunStatus.FAILURE: FAILED,
    DagsterRunStatus.CANCELED: FAILED,
}
RECONCILED_PER_TICK = 200


def request_id_of(run: DagsterRun) -> int | None:
    """The ``export_requests`` row a run was made for by the request sensor, or None."""
    tags = run.tags
    text = tags.get(TAG_REQUEST_ID, "")
    if run.job_name != export_job.name or not text.isdigit() or tags.get(SENSOR_NAME_TAG) != REQUEST_SENSOR:
        return None
    if tags.get(RUN_KEY_TAG) != text:
        return None
    via = tags.get(TAG_SUBMITTED_VIA)
    if via is not None and via != f"sensor:{REQUEST_SENSOR}":
        return None  # the gate saw it come from elsewhere: typed tags
    return int(text)


def run_for_request(instance: DagsterInstance, request_id: int) -> DagsterRun | None:
    """The run the request sensor made for a row, if Dagster has made it."""
    runs = instance.get_runs(RunsFilter(job_name=export_job.name, tags={TAG_REQUEST_ID: str(request_id)}), limit=20)
    return next((run for run in runs if request_id_of(run) == request_id), None)


def write_run_status(instance: DagsterInstance, table: RequestTable, request_id: int, run: DagsterRun) -> bool:
    """Write the run's status (and, once ended, its result or reason) to its row; True when the row changed."""
    table.set_run_id(request_id, run.run_id)
    status = ROW_STATUS[run.status]
    if status == SUCCEEDED:
        record = audit_record_for_run(instance, run.run_id)
        return table.advance(
            request_id, SUCCEEDED, run_id=run.run_id, file_key=record.file_key, rows=record.rows,
            link=_link(record, run), reason=None,
        )  # fmt: skip
    if status == FAILED:
        return table.advance(request_id, FAILED, run_id=run.run_id, reason=_reason(instance, run))
    return table.advance(request_id, status, run_id=run.run_id)


def reconcile(instance: DagsterInstance, table: RequestTable, limit: int = RECONCILED_PER_TICK) -> list[RequestRow]:
    """Bring rows in flight up to their run's status; returns the ``submitted`` rows that have no run yet.

    Those are rows a tick marked submitted whose run Dagster did not make (the daemon stopped between
    the two): the request sensor asks for them again, under the same run key.
    """
    orphans = []
    for row in table.in_flight(limit):
        run = instance.get_run_by_id(row.run_id) if row.run_id else run_for_request(instance, row.id)
        if run is None:
            if row.status == SUBMITTED:
                orphans.append(row)
            continue
        write_run_status(instance, table, row.id, run)
    return orphans


def _link(record, run: DagsterRun) -> str | None:
    from export_pipelines.delivery.links import link_for_record

    try:
        return link_for_record(record, run.tags)
    except (ExportError, OSError, ValueError):  # links are not set up here: the row has the file key
        return None


def _reason(instance: DagsterInstance, run: DagsterRun) -> str:
    if run.status == DagsterRunStatus.CANCELED:
        original = run.tags.get(TAG_DUPLICATE_OF)
        if original:
            return (
                f"Not run: the same user asked for the same export in run {original}; use that run's file, or ask "
                "again once the dedupe window (EXPORT_DEDUPE_WINDOW_SECONDS) has passed"
            )
        return "The export was canceled before it finished: ask for it again if you still need it"
    error = audit_record_for_run(instance, run.run_id).error
    return error or "The export failed: ask an administrator to look at run " + run.run_id


def _status_sensor(status: DagsterRunStatus):
    name = f"export_request_{status.value.lower()}_sensor"

    @run_status_sensor(
        name=name, run_status=status, monitored_jobs=[export_job], minimum_interval_seconds=5,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Write {ROW_STATUS[status]} to the export_requests row of a run of the request sensor.",
    )  # fmt: skip
    def _sensor(context: RunStatusSensorContext):
        run = context.dagster_run
        request_id = request_id_of(run)
        if request_id is None:
            return SkipReason(f"run {run.run_id} was not made for an export request")
        write_run_status(context.instance, RequestTable(default_source_url()), request_id, run)
        return None

    return _sensor


request_status_sensors = [
    _status_sensor(status)
    for status in (
        DagsterRunStatus.QUEUED, DagsterRunStatus.STARTED, DagsterRunStatus.SUCCESS,
        DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED,
    )
]  # fmt: skip
