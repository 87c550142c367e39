"""skip_empty_export: a subscription that asked for it (``skip_if_empty``) ends here when its export has no rows.

Nobody wants a mail a day announcing an empty file. A subscription's tick carries the run tag
``export/skip_if_empty`` when its subscription skips empty exports; ``validate_request`` has counted the rows
the owner would get, and when there are none this step emits no plan: every later step (collect, render,
upload, notify) is skipped, so no file is written and no mail is sent. The run still succeeds and stays in
run history, tagged ``export/skipped`` with why, so the owner (My exports, the API) and the audit see
that the tick happened and why nothing came of it.
"""

from dagster import OpExecutionContext, Out, Output, op

from export_pipelines.request.model import TAG_SKIP_IF_EMPTY, TAG_SKIPPED
from export_pipelines.request.plan import ExportPlan, staging_prefix
from export_pipelines.run.ops.admitted import require_admission
from export_pipelines.run.ops.common import run_tags
from export_pipelines.run.resources import ExportStorageResource

SKIPPED_NO_ROWS = "no rows: the subscription skips empty exports (skip_if_empty), so no file was made and no mail sent"


@op(out=Out(ExportPlan, is_required=False), tags={"export/step": "validate"})
def skip_empty_export(context: OpExecutionContext, plan: ExportPlan, storage: ExportStorageResource):
    """Pass the plan on, unless the run skips empty exports and the plan has no rows (see the module); a run that
    stops here removes its staging (the plan), as the last step of a run that goes on does."""
    require_admission(context, plan.request)
    if plan.visible_rows == 0 and run_tags(context).get(TAG_SKIP_IF_EMPTY) == "true":
        context.instance.add_run_tags(context.run_id, {TAG_SKIPPED: SKIPPED_NO_ROWS})
        context.log.info(f"Skipped: {SKIPPED_NO_ROWS}.")
        storage.get().delete_prefix(staging_prefix(context.run_id))
        return
    yield Output(plan)
