"""What only the deployment may set, refused when a submission sets it: resources, the Celery broker, guarded tags.

Resources (source database, catalog, storage, limits) and the broker come from the deployment's
environment; a run config that configures them would point an export at another database or another
broker. Tags under ``dagster/``, ``dagster-celery/`` and ``export/`` change scheduling, retries,
runtime caps or provenance: ``typed_tags`` says which a submitter may type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import DagsterInstance

from export_pipelines.automation.typed_tags import TagContext, untypable_tag
from export_pipelines.errors import SubmissionRefused
from export_pipelines.request.model import JOB_TAGS

# What a requester may not set: these are the deployment's, from its environment.
RESOURCE_SETTINGS = {
    "source": "EXPORT_SOURCE_DB_URL",
    "catalog": "EXPORT_CATALOG_PATH",
    "storage": "EXPORT_STORAGE_URL",
    "limits": "EXPORT_MAX_ROWS, EXPORT_RETENTION_DAYS",
}
CELERY_DEPLOYMENT_KEYS = ("broker", "backend", "include", "config_source")


def refuse_deployment_settings(run_config: Mapping[str, Any]) -> None:
    """Refuse run config that configures what only the deployment may: resources, the Celery broker."""
    for name, value in (run_config.get("resources") or {}).items():
        if value not in (None, {}) and value != {"config": {}} and value != {"config": None}:
            setting = RESOURCE_SETTINGS.get(name)
            where = f" (set by {setting} in the deployment's environment)" if setting else ""
            raise SubmissionRefused(
                f"run config may not configure resource {name!r}: resources are the deployment's{where}; "
                "remove the resources section"
            )
    executor = ((run_config.get("execution") or {}).get("config") or {}).get("celery") or {}
    for key in CELERY_DEPLOYMENT_KEYS:
        if key in executor:
            raise SubmissionRefused(
                f"run config may not set the Celery executor's {key!r}: the broker and its settings are the "
                "deployment's (EXPORT_CELERY_BROKER_URL, EXPORT_CELERY_BACKEND_URL); remove it"
            )


def refuse_deployment_tags(
    instance: DagsterInstance,
    tags: Mapping[str, str],
    parent_tags: Mapping[str, str] | None,
    parent_run_id: str | None = None,
    root_run_id: str | None = None,
) -> None:
    """Refuse tags typed at the webserver that only the deployment sets (``typed_tags``' allow-list).

    ``export/request_id`` makes the request sensor write the run's status to that row of the
    application's table, ``dagster/max_retries`` buys retries, ``dagster/sensor_name`` claims a
    provenance: a new submission may carry only the export tags (checked against the request), its
    request token and smaller caps; a re-execution also carries its parent's tags.
    """
    context = TagContext(
        job_tags=JOB_TAGS, parent_tags=parent_tags or {}, parent_run_id=parent_run_id, root_run_id=root_run_id,
        max_runtime_seconds=instance.run_monitoring_max_runtime_seconds if instance.run_monitoring_enabled else 0,
        max_retries=instance.run_retries_max_retries if instance.run_retries_enabled else 0,
    )  # fmt: skip
    reason = untypable_tag(tags, context)
    if reason:
        raise SubmissionRefused(reason)
