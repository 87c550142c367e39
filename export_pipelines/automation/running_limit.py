"""The per-user running limit, for the command line: the queue enforces it on queued runs, the CLI is not queued.

``export-pipelines export`` runs its export in its own process, past the queue whose tag limit on
``export/user`` (10 in the project's dagster.yaml) keeps one user from taking every slot. So the
command line reads that same limit from the instance's run coordinator and, under the user's
admission lock (``admission_lock``), counts the user's starting and running exports and creates its
own run already STARTING, so that two commands at once cannot both take the last slot. At the limit
it refuses, saying how many are running and what to do: it does not wait, because an operator at a
shell is better told now than left looking at a command that hangs for an hour.
"""

from __future__ import annotations

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from export_pipelines.automation.admission import SubmissionRefused
from export_pipelines.request.model import TAG_USER

RUNNING = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


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
