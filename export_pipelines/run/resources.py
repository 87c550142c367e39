"""Dagster resources: the source database, the catalog, storage, the notifier and the limits.

They are the deployment's: each reads its settings from the environment of the process the run
starts in, and none has a config field, so no run config (launchpad, GraphQL, a schedule) can point
an export at another database, catalog or bucket, or lift the row cap: Dagster refuses a run config
that tries, naming the resource. The embedded default needs no settings at all; a deployment sets
the environment variables named below.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster import ConfigurableResource

from export_pipelines.datasets.catalog import Catalog, load_catalog
from export_pipelines.notifiers.email import EmailNotifier, EmailSettings
from export_pipelines.security.keyset import Keyset
from export_pipelines.settings import (
    DEFAULT_MAX_ROWS,
    DEFAULT_RETENTION_DAYS,
    MAX_ROWS_ENV,
    RETENTION_DAYS_ENV,
    default_source_url,
    env_int,
)
from export_pipelines.source.engine import source_connection
from export_pipelines.storage import Storage
from export_pipelines.storage.configured import configured_backend, configured_keyset, configured_storage
from export_pipelines.storage.encrypted import EncryptedStorage


class SourceDatabaseResource(ConfigurableResource):
    """The database the records come from: $EXPORT_SOURCE_DB_URL (any SQLAlchemy URL; PostgreSQL gets the
    COPY fast path), else the demo SQLite file in the data folder."""

    @property
    def resolved_url(self) -> str:
        return default_source_url()

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with source_connection(self.resolved_url) as connection:
            yield connection


class CatalogResource(ConfigurableResource):
    """The dataset catalog: the YAML file $EXPORT_CATALOG_PATH, else the packaged one."""

    def load(self) -> Catalog:
        return load_catalog()


class ExportStorageResource(ConfigurableResource):
    """Where staged chunks, step outputs and finished files are written, encrypted, chosen by URL scheme:
    $EXPORT_STORAGE_URL (a folder, file:// or s3://bucket/prefix URL), else the data folder's exports.

    The keyset comes from ``$EXPORT_ENCRYPTION_KEYSET`` (or the data folder's, created on first
    use), never from run config.
    """

    def get(self) -> EncryptedStorage:
        return configured_storage()

    def backend(self) -> Storage:
        """The backend itself: it only ever holds ciphertext."""
        return configured_backend()

    def keyset(self) -> Keyset:
        return configured_keyset()


class NotifierResource(ConfigurableResource):
    """Email through SMTP when SMTP_HOST is set, otherwise .eml files in the outbox folder."""

    def get(self) -> EmailNotifier:
        return EmailNotifier(EmailSettings.from_env())

    def outbox_only(self) -> EmailNotifier:
        """A notifier that can only file messages: the fallback when ``get`` cannot read the SMTP settings."""
        return EmailNotifier(EmailSettings.outbox_only_from_env())


class ExportLimitsResource(ConfigurableResource):
    """Limits every export obeys: the row cap $EXPORT_MAX_ROWS (default 5,000,000) and the days a file
    is kept, $EXPORT_RETENTION_DAYS (default 30) unless the dataset's ``retention_days`` in the catalog says."""

    def row_cap(self) -> int:
        return env_int(MAX_ROWS_ENV, DEFAULT_MAX_ROWS)

    def retention(self, dataset: str | None = None) -> int:
        """Days a file of ``dataset`` is kept: the catalog's ``retention_days`` for it, else the deployment's."""
        spec = load_catalog().datasets.get(dataset) if dataset else None
        return (spec and spec.retention_days) or env_int(RETENTION_DAYS_ENV, DEFAULT_RETENTION_DAYS)


def default_resources() -> dict:
    """The resources ``export_job`` needs, configured from the environment at run time.

    Step outputs go through the same encrypted storage as the data, so a Celery worker on another
    machine needs nothing on disk in common with the launcher (see ``step_outputs``).
    """
    from export_pipelines.run.step_outputs import StepOutputIOManager

    storage = ExportStorageResource()
    return {
        "source": SourceDatabaseResource(),
        "catalog": CatalogResource(),
        "storage": storage,
        "notifier": NotifierResource(),
        "limits": ExportLimitsResource(),
        "io_manager": StepOutputIOManager(storage=storage),
    }
