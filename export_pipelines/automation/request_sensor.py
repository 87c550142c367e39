"""export_request_sensor: every new row of ``export_requests`` becomes one run of ``export_job``.

Each tick first reconciles the rows in flight with their runs (``request_status.reconcile``), then
asks for a run for at most ``EXPORT_REQUEST_SENSOR_BATCH`` (default 20) new rows, lowest id first,
and marks them ``submitted``. The run goes through the submission gate like any other, trusted as
the deployment's own (the daemon sends it) and run as the row's ``user_name``.

A request is launched once, whatever happens to the sensor:

- the run key is the row's id, and Dagster makes no second run for a run key this sensor used;
- a row leaves ``new`` when its run is asked for, and only ``new`` rows are asked for, so a reset or
  deleted cursor re-reads rows without launching them again;
- a row whose run already exists (found by its tags) is brought up to the run's status instead.

The cursor is the highest id asked for; rows still ``new`` below it (an insert that committed after a
higher id did, which PostgreSQL allows) are picked up too, after the ones above it.
"""

from __future__ import annotations

import os

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from pydantic import ValidationError

from export_pipelines.automation.request_status import (
    REQUEST_SENSOR,
    TAG_REQUEST_ID,
    reconcile,
    run_for_request,
    write_run_status,
)
from export_pipelines.automation.request_table import FAILED, SUBMITTED, RequestRow, RequestTable
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError, SettingsError
from export_pipelines.request.model import ExportRequest, describe_problems
from export_pipelines.request.validation import check_request
from export_pipelines.run.jobs import export_job
from export_pipelines.settings import default_source_url

BATCH_ENV = "EXPORT_REQUEST_SENSOR_BATCH"
DEFAULT_BATCH = 20


def batch_size(environ=os.environ) -> int:
    raw = environ.get(BATCH_ENV, "").strip()
    if not raw:
        return DEFAULT_BATCH
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{BATCH_ENV}={raw!r} must be a whole number of 1 or more")
    return int(raw)


def run_request_for(row: RequestRow) -> RunRequest:
    """The run asked for a row: the row's request as every other path makes it, keyed by the row's id.

    The request is checked against the catalog here, as the gate would, so a request that cannot run
    fails its row with the reason and makes no run; what only the gate knows (the user's queue cap)
    still makes a run, which the gate records as failed with the reason, and the row follows it.
    """
    request = ExportRequest(**row.fields())
    check_request(request, load_catalog())
    return RunRequest(
        run_key=str(row.id),
        run_config=request.run_config(),
        tags={**request.run_tags(), TAG_REQUEST_ID: str(row.id)},
    )


@sensor(
    name=REQUEST_SENSOR,
    job=export_job,
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turn new rows of the export_requests table (source database) into exports, and write their "
    "progress back. Create the table with `export-pipelines requests init`.",
)
def export_request_sensor(context: SensorEvaluationContext):
    """Ask for a run for each new request row (see the module docstring); the cursor is the highest id asked for."""
    table = RequestTable(default_source_url())
    if not table.exists():
        return SkipReason("no export_requests table in the source database: run `export-pipelines requests init`")
    limit = batch_size()
    # Rows marked submitted whose run was never made are asked for again, under the same run key.
    rows = reconcile(context.instance, table)[:limit]
    after = int(context.cursor) if (context.cursor or "").isdigit() else None
    rows += table.new_rows(after, limit - len(rows))
    if after is not None and len(rows) < limit:
        seen = {row.id for row in rows}
        rows += [row for row in table.new_rows(None, limit) if row.id not in seen][: limit - len(rows)]
    run_requests = []
    for row in rows:
        existing = run_for_request(context.instance, row.id)
        if existing is not None:  # launched already: the row had fallen behind its run
            write_run_status(context.instance, table, row.id, existing)
            continue
        try:
            run_request = run_request_for(row)
        except (ValueError, ValidationError, ExportRequestError) as error:
            table.advance(row.id, FAILED, reason=f"The request cannot be read: {_problems(error)}. Fix it and insert "
                          "a new row.")  # fmt: skip
            continue
        table.advance(row.id, SUBMITTED)
        run_requests.append(run_request)
    cursor = max([after or 0, *(row.id for row in rows)])
    return SensorResult(run_requests=run_requests, cursor=str(cursor) if cursor else context.cursor)


def _problems(error: Exception) -> str:
    return describe_problems(error) if isinstance(error, ValidationError) else str(error)
