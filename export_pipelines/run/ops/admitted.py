"""The first thing every export step does: prove that this run was admitted, and that its plan is this run's.

A plan is a step output, and a re-execution loads its parent's step outputs from storage: without
this check, a run admitted for one user's request could be handed another user's plan (all of its
tenants) by re-executing that user's run from after ``validate_request``. So before a step reads a
row, writes a file, publishes, mails or mints a link, it reads the run's admission receipt
(``security.receipts``) as the instance holds it now, checks it is for this run id, and that the
request it was handed (``validate_request``'s config, or the plan's request) is the receipt's user
and digest. Anything else fails the step at once, never retried.

An op invoked directly in Python, outside any run (unit tests with ``build_op_context``), has no
run to prove anything about and is not checked: whoever can call it can read the database anyway.
"""

from __future__ import annotations

from dagster import Failure
from dagster._core.errors import DagsterInvalidPropertyError

from export_pipelines.errors import PermanentExportError
from export_pipelines.request.model import ExportRequest
from export_pipelines.security.receipts import Receipt, check_admitted, read_receipt


def require_admission(context, request: ExportRequest, what: str = "plan") -> Receipt | None:
    """The run's verified receipt, after checking ``request`` is the admitted one; raises a Failure if not."""
    try:
        run_id = context.run.run_id
    except DagsterInvalidPropertyError:  # invoked directly, outside a run
        return None
    run = context.instance.get_run_by_id(run_id)
    try:
        receipt = read_receipt(run.tags if run is not None else {}, run_id)
        check_admitted(receipt, request.user, request.digest(), what)
    except PermanentExportError as error:  # NotAdmitted, or a key file this process cannot read
        context.log.error(f"Refused: {error}")
        raise Failure(
            description=f"Refused: {error}",
            metadata={"error_type": type(error).__name__},
            allow_retries=False,
        ) from None
    return receipt
