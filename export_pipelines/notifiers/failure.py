"""A failed export tells its requester: one short mail per run, with a reason they can act on.

``tell_requester`` runs in export_job's failure hook, in the process of the step that failed for
good (a step that will be retried raises no failure, so no hook runs for it). The reason is:

- for a refusal (``ExportRequestError``, ``PermissionDenied``, ``RowLimitExceeded``: the requester's to
  fix), the error's own message, which says what to do;
- for anything else (a bug, a wrong setting, a service that kept failing), "an internal error;
  operators have been told; try again later" with the run id: the message of such an error may quote
  the deployment (hosts, settings) or row values, and the requester cannot act on it anyway.

Several steps may fail in one run (mapped steps, in several processes or machines): the first to
claim the run in the Dagster instance sends the mail, the others do nothing. The claim is a row in
the run storage's key-value table, whose key is unique, so two claims cannot both succeed.
A failure of ``notify_recipients`` mails nobody: its recipients were told already, or mail is what fails.
"""

from __future__ import annotations

import logging
import threading

from dagster import DagsterInstance, Failure, HookContext

from export_pipelines.errors import ExportRequestError, PermissionDenied, RowLimitExceeded
from export_pipelines.failures import describe
from export_pipelines.notifiers.base import DeliveryReceipt, FailureNotification
from export_pipelines.request.model import request_from_run_config
from export_pipelines.request.recipients import check_recipients
from export_pipelines.security.receipts import NotAdmitted, check_admitted, read_receipt

log = logging.getLogger(__name__)

REFUSALS = (ExportRequestError, PermissionDenied, RowLimitExceeded)
NOTIFY_STEP = "notify_recipients"
_CLAIM_PREFIX = "export/failure_mail/"
_claimed_here: set[str] = set()  # runs claimed in this process, for an instance without SQL run storage
_claim_lock = threading.Lock()


def requester_reason(error: BaseException | None, run_id: str) -> str:
    """What the requester reads: a refusal's own message, else an internal error with the run id."""
    cause = error.__cause__ if isinstance(error, Failure) and error.__cause__ is not None else error
    if isinstance(cause, REFUSALS):
        return str(cause)
    return (
        "an internal error; operators have been told; try again later. If it keeps failing, "
        f"give the operators the run id {run_id}."
    )


def claim_failure_mail(instance: DagsterInstance, run_id: str, step_key: str) -> bool:
    """True for the first caller per run across every process sharing the instance; False for the rest."""
    key = f"{_CLAIM_PREFIX}{run_id}"
    storage = getattr(instance, "run_storage", None)
    try:
        from dagster._core.storage.runs.schema import KeyValueStoreTable
        from dagster._core.storage.runs.sql_run_storage import SqlRunStorage
        from sqlalchemy.exc import IntegrityError
    except ImportError:  # pragma: no cover - part of dagster
        storage = None
    if storage is not None and isinstance(storage, SqlRunStorage):
        try:
            with storage.connect() as connection:
                connection.execute(KeyValueStoreTable.insert().values(key=key, value=step_key))
        except IntegrityError:  # the key is unique: another step claimed this run first
            return False
        return True
    with _claim_lock:  # in-memory instance: every step runs in this process
        if key in _claimed_here:
            return False
        _claimed_here.add(key)
        return True


def tell_requester(context: HookContext) -> DeliveryReceipt | None:
    """Mail the request's recipients that the run failed, once per run; None when nobody was mailed.

    Never raises: a hook that fails would only add noise to a run that already failed.
    """
    try:
        return _tell(context)
    except Exception as error:
        context.log.warning(f"The failure mail for run {context.run_id} was not sent: {describe(error)}")
        return None


def _tell(context: HookContext) -> DeliveryReceipt | None:
    if context.step_key.startswith(NOTIFY_STEP):
        return None
    run = context.instance.get_run_by_id(context.run_id)
    if run is None:
        return None
    request = request_from_run_config(run.run_config)
    try:  # a run the gate never admitted mails nobody: its recipients were typed by whoever made it
        check_admitted(read_receipt(run.tags, context.run_id), request.user, request.digest(), "request")
    except NotAdmitted as error:
        context.log.info(f"No failure mail: {error}")
        return None
    try:  # the gate's own check: never mail an address the request could not have used
        recipients = check_recipients(request.recipients)
    except Exception as error:
        context.log.info(f"No failure mail: the request's recipients are not allowed ({describe(error)}).")
        return None
    if not recipients or not claim_failure_mail(context.instance, context.run_id, context.step_key):
        return None
    notice = FailureNotification(
        run_id=context.run_id,
        dataset=request.dataset,
        title=request.title or request.dataset,
        recipients=recipients,
        reason=requester_reason(context.op_exception, context.run_id),
    )
    notifier = context.resources.notifier
    try:
        receipt = notifier.get().send_failure(notice)
    except Exception as error:  # SMTP down or refusing, settings unreadable: file it for a later resend
        receipt = notifier.outbox_only().send_failure(notice, outbox=True)
        context.log.warning(f"The failure mail was not delivered ({describe(error)}); filed at {receipt.destination}.")
    context.log.info(f"Told {len(recipients)} recipient(s) that the export failed ({receipt.channel}).")
    return receipt
