"""Which run tags a submission through the webserver may type: an allow-list, the rest refused by name.

Tags under ``dagster/``, ``dagster-celery/`` and ``export/`` are read by somebody: Dagster's queue
(``dagster/priority``), its retry daemon (``dagster/max_retries``, ``dagster/retry_strategy``), its
run monitor (``dagster/max_runtime``), the Celery executor (``dagster-celery/run_priority``), the
record of where a run came from (``dagster/sensor_name``, ``dagster/schedule_name``) and the
deployment's own code (``export/request_id``, ``export/subscription``). A requester who could type
them could jump the queue, buy extra retries or forge where a run came from. So a submission may
carry, under those prefixes, only:

- the export tags, checked against the request, and its request token;
- the job's own tags, with the job's values (``export/kind``, ``dagster/retry_strategy``);
- a re-execution's bookkeeping that Dagster adds (parent and root run ids, equal to the run's) and
  the tags it copies from the parent, with the parent's values;
- a smaller cap than the deployment's: ``dagster/max_runtime`` up to the instance's
  ``run_monitoring.max_runtime_seconds``, ``dagster/max_retries`` up to ``run_retries.max_retries``.
  Asking for less only costs the requester.

Any other tag under those prefixes is refused, naming it (``untypable_tag`` says why; the gate
refuses). Tags outside them (``team: finance``) are labels nobody acts on, and pass. The daemon
(schedules and sensors of the deployment's own code) and the command line are not checked: they
are the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dagster._core.storage.tags import (
    CODE_LOCATION_TAG,
    MAX_RETRIES_TAG,
    MAX_RUNTIME_SECONDS_TAG,
    PARENT_RUN_ID_TAG,
    REPOSITORY_LABEL_TAG,
    RESUME_RETRY_TAG,
    ROOT_RUN_ID_TAG,
    STEP_SELECTION_TAG,
)

from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER

TAG_REQUEST_TOKEN = "export/request_token"
GUARDED_PREFIXES = ("dagster/", "dagster-celery/", "export/")
TYPABLE = frozenset({TAG_USER, TAG_DATASET, TAG_FORMAT, TAG_REQUEST_TOKEN})
# Added by Dagster itself: where the job's code lives, and a re-execution's kind (the gate refuses a
# re-execution of selected steps by itself). None changes what runs, when, or as whom.
DAGSTER_BOOKKEEPING = frozenset({CODE_LOCATION_TAG, REPOSITORY_LABEL_TAG, RESUME_RETRY_TAG, STEP_SELECTION_TAG})


@dataclass(frozen=True)
class TagContext:
    """What a typed tag is compared with: the job's tags, the parent's, the run's ids, the deployment's caps."""

    job_tags: Mapping[str, str]
    parent_tags: Mapping[str, str]
    parent_run_id: str | None
    root_run_id: str | None
    max_runtime_seconds: int
    max_retries: int


def untypable_tag(tags: Mapping[str, str], context: TagContext) -> str | None:
    """Why the first tag a submission may not type is refused, naming it; None when every tag may be typed."""
    for key, value in sorted(tags.items()):
        if not key.startswith(GUARDED_PREFIXES) or key in TYPABLE or key in DAGSTER_BOOKKEEPING:
            continue
        if context.job_tags.get(key) == value or context.parent_tags.get(key) == value:
            continue
        if key == PARENT_RUN_ID_TAG and value == context.parent_run_id:
            continue
        if key == ROOT_RUN_ID_TAG and value == context.root_run_id:
            continue
        if key == MAX_RUNTIME_SECONDS_TAG:  # 0: the deployment sets no cap
            cap = context.max_runtime_seconds or None
            reason = _at_most(key, value, cap, "seconds (the deployment's run_monitoring.max_runtime_seconds)")
        elif key == MAX_RETRIES_TAG:
            reason = _at_most(key, value, context.max_retries, "retries (the deployment's run_retries.max_retries)")
        else:
            reason = (
                f"run tag {key} is set by the deployment, not by a submission: tags under "
                f"{', '.join(GUARDED_PREFIXES)} change scheduling, retries, runtime caps or where a run came from. "
                f"A submission may carry {', '.join(sorted(TYPABLE))}, and {MAX_RUNTIME_SECONDS_TAG} or "
                f"{MAX_RETRIES_TAG} up to the deployment's: remove the tag"
            )
        if reason:
            return reason
    return None


def _at_most(key: str, value: str, cap: int | None, what: str) -> str | None:
    if value.strip().isdigit() and (cap is None or int(value) <= cap):
        return None
    limit = f", at most {cap} {what}" if cap is not None else ""
    return f"run tag {key}={value!r} must be a whole number{limit}: change or remove the tag"
