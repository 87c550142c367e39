"""The per-user running limit on both paths that start runs: the queue daemon's launches and the command line.

The queue daemon keeps one user from taking every slot with the tag limit on ``export/user`` (10 in
the project's dagster.yaml, ``applyLimitPerUniqueValue``). ``export-pipelines export`` runs its export
in its own process, past the queue, so it reads that same limit from the instance's run coordinator
and, under the user's admission lock (``admission_lock``), counts the user's active exports and creates
its own run already STARTING. At the limit it refuses, saying how many are running and what to do: it
does not wait, because an operator at a shell is better told now than left looking at a command that
hangs for an hour.

The two paths meet at the last slot. The daemon counts the active runs of every user, then marks the
runs it picked STARTING and launches them one by one, without any lock of ours; a command creating its
run between that count and that launch would make the user's eleventh. So the deployment's run launcher
is ``SlotCheckingRunLauncher``: Dagster's default launcher that first takes the same admission lock
and counts the user's other active runs; at the limit it puts the run back in the queue (the daemon
launches it when a slot frees) instead of starting it. Whichever of the two takes the lock second sees
the other's run: the daemon marks its run STARTING before it takes the lock, the command creates its
run STARTING while it holds it. Dagster's tag limit still does the everyday work (the daemon never
picks a run over the limit it counted); the launcher only settles that race.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun, RunsFilter
from dagster._core.launcher import DefaultRunLauncher, LaunchRunContext
from dagster._core.storage.dagster_run import ACTIVE_RUN_STATUSES
from dagster._serdes import ConfigurableClassData

from export_pipelines.automation.admission import SubmissionRefused
from export_pipelines.automation.admission_lock import admission_lock
from export_pipelines.request.model import TAG_USER

RUNNING = list(ACTIVE_RUN_STATUSES)  # as the queue daemon counts: starting, started, canceling
# Which queuing of a run was launched (the run's id and its count of RUN_ENQUEUED events): see claim_launch.
TAG_LAUNCHED = "export/launched_queuing"


def user_running_limit(instance: DagsterInstance, user: str) -> int | None:
    """The queue's limit on ``user``'s running exports (the ``export/user`` tag limit), None without one."""
    config_of = getattr(instance.run_coordinator, "get_run_queue_config", None)
    if config_of is None:  # not a queue: nothing limits the user
        return None
    limits = []
    for entry in config_of().tag_concurrency_limits or []:
        value = entry.get("value")
        applies_to_each = isinstance(value, dict) and value.get("applyLimitPerUniqueValue")
        if entry.get("key") == TAG_USER and (value is None or applies_to_each or value == user):
            limits.append(int(entry["limit"]))
    return min(limits) if limits else None


def refuse_over_running_limit(instance: DagsterInstance, user: str) -> None:
    """Raise SubmissionRefused when ``user`` already has as many exports running as the queue allows.

    Call it under the user's admission lock, and create the run STARTING before releasing it.
    """
    limit = user_running_limit(instance, user)
    if limit is None:
        return
    running = instance.get_runs_count(RunsFilter(tags={TAG_USER: user}, statuses=RUNNING))
    if running >= limit:
        raise SubmissionRefused(
            f"user {user!r} already has {running} exports running (the limit is {limit}, as for queued exports): "
            "wait for one to finish and run the command again, or submit the export to the queue (launchpad, "
            "GraphQL), where it waits for a slot"
        )


def take_running_slot(instance: DagsterInstance, run: DagsterRun) -> bool:
    """For a run marked STARTING: True to launch it, or False once it is back in the queue or launched already.

    A run without ``export/user`` (not an export) is always launched; an export is launched once per
    time it was queued, however many paths try (``claim_launch``), and only within the user's limit.
    """
    user = run.tags.get(TAG_USER)
    if not user:
        return True
    limit = user_running_limit(instance, user)
    with admission_lock(instance, user):
        current = instance.get_run_by_id(run.run_id)
        if current is None or not claim_launch(instance, current):
            return False
        if limit is None:
            return True
        counted = current.status in RUNNING
        others = instance.get_runs_count(RunsFilter(tags={TAG_USER: user}, statuses=RUNNING)) - int(counted)
        if others < limit:
            return True
        instance.report_engine_event(
            f"Back in the queue: user {user!r} already has {others} exports running (the limit is {limit}); one "
            "started from the command line or at its submission after the queue counted. It starts when one of them "
            "ends.",
            run,
        )
        instance.report_dagster_event(DagsterEvent.job_enqueue(run), run_id=run.run_id)
    return False


def claim_launch(instance: DagsterInstance, run: DagsterRun) -> bool:
    """Record that ``run`` is launched for the latest time it was queued; False if it already was.

    Two paths launch queued exports: the daemon's dequeue and the gate's launch on submission
    (``gate``). The daemon reads a run QUEUED, then marks it STARTING; the gate may mark it STARTING
    in between, and both would launch it. Call under the user's admission lock: the first claim of a
    queuing wins. A run put back in the queue is queued once more, so it can be claimed again.
    """
    queued = len(instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_ENQUEUED).records)
    claim = f"{run.run_id}/{queued}"  # a retry or re-execution copies its parent's tags: never theirs
    if run.tags.get(TAG_LAUNCHED) == claim:
        return False
    instance.add_run_tags(run.run_id, {TAG_LAUNCHED: claim})
    return True


class SlotCheckingRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher, after ``take_running_slot`` (see the module docstring). In dagster.yaml::

    run_launcher:
      module: export_pipelines.automation.running_limit
      class: SlotCheckingRunLauncher
    """

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        if take_running_slot(self._instance, context.dagster_run):
            super().launch_run(context)
