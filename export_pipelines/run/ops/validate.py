"""validate_request: the gate every export passes before a row is read."""

from dataclasses import replace

from dagster import OpExecutionContext, Out, op

from export_pipelines.errors import ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.plan import ExportPlan
from export_pipelines.request.validation import plan_export
from export_pipelines.request.withheld import withheld_detail
from export_pipelines.run.ops.admitted import require_admission
from export_pipelines.run.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.run.resources import CatalogResource, ExportLimitsResource, SourceDatabaseResource
from export_pipelines.settings import parallel_readers
from export_pipelines.source.read_ranges import reader_count, split_points


@op(out=Out(ExportPlan), retry_policy=TRANSIENT_RETRY, tags={"export/step": "validate"})
def validate_request(
    context: OpExecutionContext,
    config: ExportRequest,
    catalog: CatalogResource,
    source: SourceDatabaseResource,
    limits: ExportLimitsResource,
) -> ExportPlan:
    """Check the request against the catalog, the user's grants and the row cap, and count its rows.

    Tags the run with user, dataset and format whichever way it was launched, so the audit log
    finds it. A bad request fails here, without retries, naming the field and what is allowed.
    A run without the gate's receipt for this very request fails here before anything else.
    """
    require_admission(context, config, what="request")
    with permanent_errors_fail_fast(context):
        _tag_run(context, config.run_tags())
        detail = withheld_detail()  # the deployment's, read at the gate: a bad value fails before a row is read
        readers = parallel_readers()
        with source.connect() as connection:
            plan = plan_export(config, catalog.load(), connection, limits.row_cap())
            points = split_points(connection, plan.query, reader_count(plan.visible_rows, readers))
        plan = replace(plan, withheld_detail=detail, read_split_points=points)
    context.add_output_metadata(
        {
            "matching_rows": plan.matching_rows,
            "rows": plan.visible_rows,
            # Exact, for operators (the audit log reads it); users only ever see plan.withheld.
            "skipped_rows": plan.skipped_rows,
            **plan.withheld.metadata(),
            "columns": ", ".join(c.name for c in plan.output_columns),
            "filters": "; ".join(plan.filter_descriptions()) or "none",
            "readers": len(plan.read_split_points) + 1,
            **plan.relative_dates_metadata(),
        }
    )
    if plan.skipped_rows:
        # No number here: a verbose command line prints the run log to the user.
        context.log.warning(
            f"Partial export: some matching rows belong to tenants user {config.user!r} is not granted; "
            "they are left out (the count is in this step's skipped_rows metadata)."
        )
    return plan


def _tag_run(context: OpExecutionContext, tags: dict[str, str]) -> None:
    """Check the export tags the submission gate set agree with the request; never change one.

    A run that did not pass the gate (the job executed directly, as tests do) gets the ones it lacks.
    """
    run = context.instance.get_run_by_id(context.run_id)
    if run is None:  # invoked directly, outside a run: nothing to tag
        return
    wrong = sorted(key for key, value in tags.items() if run.tags.get(key, value) != value)
    if wrong:
        raise ExportRequestError(
            "tags", f"the run's {', '.join(wrong)} tag disagrees with the request", "submit the export again"
        )
    missing = {key: value for key, value in tags.items() if key not in run.tags}
    if missing:
        context.instance.add_run_tags(context.run_id, missing)
