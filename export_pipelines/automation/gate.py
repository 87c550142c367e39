"""The submission gate: the instance's run coordinator, through which every queued export passes.

Configured in ``dagster.yaml``::

    run_coordinator:
      module: export_pipelines.automation.gate
      class: ExportSubmissionGate
      config:
        trust_unsigned_submissions: true   # optional; else $EXPORT_TRUST_UNSIGNED_SUBMISSIONS

It is Dagster's ``QueuedRunCoordinator`` with ``admit`` (see ``admission``) in front: for a run of
``export_job`` it checks the request, who sent it and the user's queue, and sets the export tags
before the run is queued, so the queue's per-user limit (``concurrency.runs.tag_concurrency_limits``
on ``export/user``) holds on every path. A refused run is recorded as failed by Dagster with the
reason, which the launchpad and the GraphQL client show, and is never retried. A repeat of an export the same user asked
for within the dedupe window is not run: it is recorded as canceled, tagged ``export/duplicate_of``
with the run to use instead; re-executions and subscription ticks are never repeats (both are asked for
on purpose, and a subscription every few minutes would otherwise lose its ticks). Runs of other jobs
pass unchanged.

Where a submission comes from is the one thing a requester cannot type: the webserver hands the
gate the HTTP request it is serving, the daemon (schedules, sensors) and ``dagster job launch`` on
a deployment machine hand it nothing, the export API hands ``ApiSubmission`` (``api_submission``) from
its own process once it has verified the caller's app JWT. Tags such as ``dagster/schedule_name`` can be
typed in the launchpad, so they are never what trust is based on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from dagster import BoolSource, DagsterRun, DagsterRunStatus, Field
from dagster._core.events import JobFailureData
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.tags import MAX_RETRIES_TAG
from dagster._serdes import ConfigurableClassData
from dagster._utils.error import serializable_error_info_from_exc_info

from export_pipelines.automation.admission import (
    TAG_DUPLICATE_OF,
    TAG_SUBSCRIPTION,
    VIA_API,
    VIA_DAEMON,
    VIA_WEBSERVER,
    GateSettings,
    SubmissionRefused,
    admit,
)
from export_pipelines.automation.admission_lock import admission_lock
from export_pipelines.automation.launch_on_submission import launch_if_room
from export_pipelines.errors import PermanentExportError, SettingsError
from export_pipelines.request.model import VALIDATE_OP

EXPORT_JOB = "export_job"
LAUNCH_ON_SUBMISSION_ENV = "EXPORT_LAUNCH_ON_SUBMISSION"


class ExportSubmissionGate(QueuedRunCoordinator):
    """Queues runs like QueuedRunCoordinator, after admitting every export run (see the module docstring)."""

    def __init__(
        self, trust_unsigned_submissions: bool | None = None, launch_on_submission: bool = False, **queue_config
    ):
        self._trust_unsigned = trust_unsigned_submissions
        self._launch_on_submission = launch_on_submission
        super().__init__(**queue_config)

    @classmethod
    def config_type(cls):
        return {
            **QueuedRunCoordinator.config_type(),
            "launch_on_submission": Field(
                BoolSource,
                is_required=False,
                default_value=False,
                description="Launch an export at its submission when no other run waits and the deployment's and "
                "the user's running limits allow, instead of at the daemon's next look at the queue "
                "(automation/launch_on_submission.py). Only with a launcher that needs no code server for it "
                "(the warm launcher); with any other every run waits for the daemon. "
                f"${LAUNCH_ON_SUBMISSION_ENV} (1 or 0), when set, wins.",
            ),
            "trust_unsigned_submissions": Field(
                BoolSource,
                is_required=False,
                description="Take the user of a submission from the webserver as typed, with no request token. "
                "Only for a webserver nobody untrusted can reach (the embedded default). "
                "Unset: $EXPORT_TRUST_UNSIGNED_SUBMISSIONS, else false.",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        config = dict(config_value)
        trust = config.pop("trust_unsigned_submissions", None)
        launch = config.pop("launch_on_submission", False)
        return cls(trust_unsigned_submissions=trust, launch_on_submission=launch, inst_data=inst_data, **config)

    def _launches_at_submission(self) -> bool:
        """The config's ``launch_on_submission``, unless the environment says otherwise (a process that must leave
        every run to the daemon, e.g. a test that looks at runs while they wait in the queue)."""
        raw = os.environ.get(LAUNCH_ON_SUBMISSION_ENV, "").strip()
        if raw not in ("", "0", "1"):
            raise SettingsError(f"{LAUNCH_ON_SUBMISSION_ENV}={raw!r} must be 1 or 0")
        return self._launch_on_submission if raw == "" else raw == "1"

    @property
    def trusts_unsigned_submissions(self) -> bool:
        """Whether a user named in a submission is taken as typed: only the embedded default, which nobody
        untrusted reaches (the download service offers its development sign-in only then)."""
        return GateSettings.from_env(trust_unsigned=self._trust_unsigned).trust_unsigned

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        if run.job_name != EXPORT_JOB or run.status != DagsterRunStatus.NOT_STARTED:
            return super().submit_run(context)
        via = _submitted_via(context)
        # Counting the user's queue, looking for a repeat and queueing happen under one lock, shared by every
        # thread and process of the deployment (admission_lock), so that concurrent submissions cannot all pass.
        with admission_lock(self._instance, _requested_user(run)):
            refusal = _partial_reexecution(self._instance, run)
            try:
                if refusal is not None:
                    raise SubmissionRefused(refusal)
                admission = admit(
                    self._instance, run.run_config, run.tags, via,
                    GateSettings.from_env(trust_unsigned=self._trust_unsigned),
                    run_id=run.run_id, dedupe=not _asked_for_on_purpose(run, via),
                    parent_tags=self._parent_tags(run), parent_run_id=run.parent_run_id, root_run_id=run.root_run_id,
                )  # fmt: skip
            except SubmissionRefused as error:
                refusal = error
            except PermanentExportError as error:  # a broken deployment setting, named in the message
                refusal = SubmissionRefused(str(error))
            if refusal is not None:
                return self._refuse(run, refusal, via)
            self._instance.add_run_tags(run.run_id, admission.tags)
            if admission.duplicate_of:
                return self._cancel_duplicate(run, admission.duplicate_of)
            queued = super().submit_run(context)
        # Outside the lock: the launcher takes it again to take the user's running slot.
        return launch_if_room(self._instance, queued, context.workspace) if self._launches_at_submission() else queued

    def _parent_tags(self, run: DagsterRun) -> Mapping[str, str] | None:
        parent = self._instance.get_run_by_id(run.parent_run_id) if run.parent_run_id else None
        return parent.tags if parent else None

    def _refuse(self, run: DagsterRun, refusal: SubmissionRefused, via: str) -> DagsterRun:
        """Record the refusal as the run's failure; never retried, since the same run would be refused again.

        For the webserver and the API the refusal is raised (outside any except block, so Dagster records this
        message alone), of its own kind (``QueueFull`` is one the API answers 429): the launchpad, the GraphQL
        caller and the API's caller get it as the answer to their submission. For the
        daemon it is recorded here and not raised: a schedule or sensor tick whose submission raises is
        marked failed and evaluated again, which would only repeat the refusal.
        """
        self._instance.add_run_tags(run.run_id, {MAX_RETRIES_TAG: "0"})
        reason = refusal.reason
        if via in (VIA_WEBSERVER, VIA_API):
            raise type(refusal)(reason)
        try:  # an error as Dagster records a raising submission's, so the audit reads it the same way
            raise SubmissionRefused(reason)
        except SubmissionRefused:
            error = serializable_error_info_from_exc_info(sys.exc_info())
        # One event says it all: the run's failure, with the reason as its message and its error.
        self._instance.report_run_failed(run, f"Refused at submission: {reason}", JobFailureData(error))
        return self._instance.get_run_by_id(run.run_id)

    def _cancel_duplicate(self, run: DagsterRun, original: str) -> DagsterRun:
        self._instance.add_run_tags(run.run_id, {TAG_DUPLICATE_OF: original})
        self._instance.report_run_canceled(
            run,
            message=f"Not run: the same user asked for the same export in run {original}, which is waiting, "
            f"running or done; use that run's file (tag {TAG_DUPLICATE_OF}). To export again anyway, re-execute "
            "that run or wait for the dedupe window (EXPORT_DEDUPE_WINDOW_SECONDS) to pass.",
        )
        return self._instance.get_run_by_id(run.run_id)


def _submitted_via(context: SubmitRunContext) -> str:
    """The webserver hands its request context (which has a ``source``); the export API hands ``ApiSubmission``
    (``automation.api_submission``), in its own process, after verifying the caller; the daemon hands neither."""
    if getattr(context.workspace, "export_submitted_via", None) == VIA_API:
        return VIA_API
    return VIA_WEBSERVER if getattr(context.workspace, "source", None) is not None else VIA_DAEMON


def _requested_user(run: DagsterRun) -> str:
    """The user a run's request names, for the lock only (admit checks the request); '' when there is none."""
    config = ((run.run_config.get("ops") or {}).get(VALIDATE_OP) or {}).get("config")
    user = config.get("user") if isinstance(config, Mapping) else None
    return user if isinstance(user, str) else ""


def _asked_for_on_purpose(run: DagsterRun, via: str) -> bool:
    """A re-execution, or a subscription's tick sent by the daemon: runs the dedupe window never cancels."""
    return bool(run.parent_run_id) or (via == VIA_DAEMON and TAG_SUBSCRIPTION in run.tags)


def _partial_reexecution(instance, run: DagsterRun) -> str | None:
    """Why a run of only some steps is refused: a re-execution runs every step, a new run starts at the first.

    Steps left out take their inputs from the parent's stored outputs; nothing good comes of that
    for an export (a from-failure re-execution also skips mapped steps that never started, see
    ``plan.complete_chunks``). Dagster's "re-execute from failure" or "selected steps" is refused,
    saying to re-execute all steps; the daemon's retries already run all steps (the job's retry strategy).
    """
    steps = run.step_keys_to_execute
    if steps is None:  # every step
        return None
    selected = {key.split("[")[0] for key in steps}  # transform_chunk[chunk_000001] is a step of transform_chunk
    if run.parent_run_id and not _every_op(instance, run) <= selected:
        return (
            f"a re-execution of export_job runs every step from {VALIDATE_OP}: re-execute all steps, not from "
            "failure or selected steps (the steps left out would use what the earlier run stored)"
        )
    if VALIDATE_OP not in selected:
        return f"a run of export_job starts at its first step, {VALIDATE_OP}: launch it with all steps"
    return None


def _every_op(instance, run: DagsterRun) -> set[str]:
    snapshot = instance.get_job_snapshot(run.job_snapshot_id)
    return {node.node_name for node in snapshot.dep_structure_snapshot.node_invocation_snaps}
