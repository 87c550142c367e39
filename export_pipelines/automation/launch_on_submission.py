"""Launching a queued export at once, from the submission, when nothing waits before it and there is room.

Why: the daemon looks at the queue every ``dequeue_interval_seconds`` (1 s, the smallest it takes), so
a submission waits ~0.7 s on average for a look that, on a quiet deployment, finds this run alone and
launches it. The gate does the same at once instead (``ExportSubmissionGate``, ``launch_on_submission``),
only when the queue holds no other run (it never overtakes one), the deployment runs fewer than
``max_concurrent_runs`` and the user fewer than their ``export/user`` limit; otherwise the run waits
for the daemon, as before. The run is queued first (RUN_ENQUEUED, as every run), then marked STARTING
and handed to the instance's launcher, which takes the user's slot under the user's admission lock
(``running_limit.take_running_slot``): the 10-running limit holds exactly as on the daemon's path, and
a daemon that read the run QUEUED just before does not launch it a second time (``claim_launch``).

What it trades: the deployment-wide ``max_concurrent_runs`` is counted here and by the daemon without a
shared lock, so a submission and a daemon launch in the same few milliseconds may run one more than it
(the per-user limit is exact). And the process serving the submission launches the run: only launchers
that need no code server for it qualify (``launches_on_submission``, the warm launcher once its
forkserver is up); any other leaves every run to the daemon.
"""

from __future__ import annotations

from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.launcher import LaunchRunContext

from export_pipelines.automation.running_limit import RUNNING, user_running_limit
from export_pipelines.request.model import TAG_USER


def launch_if_room(instance: DagsterInstance, run: DagsterRun, workspace) -> DagsterRun:
    """Launch the just-queued ``run`` now if it may start now (see the module docstring); the run as it is then."""
    launcher = instance.run_launcher
    ready = getattr(launcher, "launches_on_submission", None)
    if run.status != DagsterRunStatus.QUEUED or ready is None or not _room(instance, run) or not ready():
        return run
    instance.report_dagster_event(
        DagsterEvent(event_type_value=DagsterEventType.RUN_STARTING.value, job_name=run.job_name), run_id=run.run_id
    )
    starting = instance.get_run_by_id(run.run_id)
    try:
        launcher.launch_run(LaunchRunContext(dagster_run=starting, workspace=workspace))
    except Exception as error:  # noqa: BLE001  the daemon launches it instead, as it would have
        instance.report_engine_event(f"Not launched at submission ({error}); it waits for the queue.", starting)
        instance.report_dagster_event(DagsterEvent.job_enqueue(starting), run_id=run.run_id)
    return instance.get_run_by_id(run.run_id)


def _room(instance: DagsterInstance, run: DagsterRun) -> bool:
    """No other run waiting, the deployment and the run's user under their running limits (as the daemon counts)."""
    if instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED])) > 1:  # this run and others
        return False
    queue = instance.run_coordinator.get_run_queue_config()
    if any(entry.get("key") != TAG_USER for entry in queue.tag_concurrency_limits or []):
        return False  # limits only the daemon counts: it decides
    if 0 <= queue.max_concurrent_runs <= instance.get_runs_count(RunsFilter(statuses=RUNNING)):  # -1: no limit
        return False
    user = run.tags.get(TAG_USER)
    limit = user_running_limit(instance, user) if user else None
    return limit is None or instance.get_runs_count(RunsFilter(tags={TAG_USER: user}, statuses=RUNNING)) < limit
