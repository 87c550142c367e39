"""``POST /api/v1/exports/estimate``: what an export would give the caller, before it is asked for.

The request is checked as a submission is, then planned against the source as ``validate_request`` plans
it (``plan_export``: the caller's grants, the row cap, the format's own cap): ``rows`` is what the file
would hold. It never says how many rows the caller's grants would withhold, nor whether any: that is other
tenants' data. ``bytes`` is the uncompressed size estimated from the column types (``estimated_bytes``,
within a few percent for typical rows; long texts make it low). ``seconds`` is a rough time from
submission to file: a fixed start (queue, run process) plus rows at the format's measured pace on
PostgreSQL (README's Speed; SQLite is about four times slower, Excel and PDF are the slow ones).
"""

from __future__ import annotations

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import (
    ExportRequestError,
    PermissionDenied,
    RowLimitExceeded,
    SourceDatabaseError,
    TransientSourceError,
)
from export_pipelines.formats import renderer_class
from export_pipelines.formats.compression import estimated_bytes
from export_pipelines.request.validation import plan_export
from export_pipelines.run.resources import ExportLimitsResource, SourceDatabaseResource
from export_pipelines.service.api.identity import Caller
from export_pipelines.service.api.problems import Problem, from_request_error
from export_pipelines.service.api.submit import checked_request

START_SECONDS = 4.5  # a small export from submission to file (README: latency of one small export)
# xlsx: 300,000 orders in paired rounds with csv (benchmarks/README, Excel): 2.94 s more CPU than csv (median of
# 3 rounds, load 10-14), added to csv's 0.5 s at the pace above, as if the sheet's deflate threads did not overlap.
ROWS_PER_SECOND = {"csv": 600_000, "parquet": 520_000, "json": 350_000, "jsonl": 350_000, "xlsx": 87_000, "pdf": 5_000}


def estimate(service, caller: Caller, body) -> dict:
    request = checked_request(body, caller)
    try:
        with SourceDatabaseResource().connect() as connection:
            plan = plan_export(request, load_catalog(), connection, ExportLimitsResource().row_cap())
    except PermissionDenied as error:
        raise Problem(403, "no_grant", str(error)) from None
    except RowLimitExceeded as error:
        raise Problem(422, "too_many_rows", str(error), [{"field": "filters", "detail": str(error)}]) from None
    except ExportRequestError as error:
        raise from_request_error(error) from None
    except (TransientSourceError, SourceDatabaseError):
        raise Problem(503, "source_unavailable", "the source database did not answer: try again in a minute",
                      headers={"Retry-After": "60"}) from None  # fmt: skip
    rows = plan.visible_rows
    seconds = START_SECONDS + rows / ROWS_PER_SECOND.get(request.format, 100_000)
    return {
        "rows": rows,
        "bytes": estimated_bytes(renderer_class(request.format), plan.output_columns, rows),
        "seconds": round(seconds, 1),
        "file_extension": plan.file_extension,
    }
