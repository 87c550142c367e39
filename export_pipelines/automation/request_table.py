"""The ``export_requests`` table: exports an application asks for by inserting a row in the source database.

An application inserts ``user_name`` and ``request`` (the export request as JSON, without or with the
same ``user``); everything else is written by the deployment. ``export-pipelines requests init``
creates the table. A row moves forward only:

    new -> submitted -> queued -> running -> succeeded | failed

``submitted`` rows carry the run's id once Dagster has made the run (the sensor cannot know it
before); ``succeeded`` rows the file's key, its row count and a download link when links can be
minted; ``failed`` rows the reason, which says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from export_pipelines.source.engine import source_engine

REQUESTS_TABLE = "export_requests"
NEW, SUBMITTED, QUEUED, RUNNING, SUCCEEDED, FAILED = "new", "submitted", "queued", "running", "succeeded", "failed"
# A row's status never moves back: a late or repeated status write cannot undo a later one.
RANK = {NEW: 0, SUBMITTED: 1, QUEUED: 2, RUNNING: 3, SUCCEEDED: 4, FAILED: 4}
IN_FLIGHT = (SUBMITTED, QUEUED, RUNNING)

export_requests = sa.Table(
    REQUESTS_TABLE,
    sa.MetaData(),
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=NEW),
    sa.Column("run_id", sa.String(64)),
    sa.Column("reason", sa.Text),
    sa.Column("file_key", sa.Text),
    sa.Column("link", sa.Text),
    sa.Column("rows", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
    sa.Index("ix_export_requests_status", "status", "id"),
)


@dataclass(frozen=True)
class RequestRow:
    """One row of ``export_requests``."""

    id: int
    user_name: str
    request: Any  # as the application wrote it: a mapping, or text that should hold one
    status: str
    run_id: str | None = None
    reason: str | None = None
    file_key: str | None = None
    link: str | None = None
    rows: int | None = None

    def fields(self) -> Mapping[str, Any]:
        """The request's fields, with ``user`` from ``user_name``; ValueError when they are no JSON object."""
        value = self.request
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"the request is not valid JSON ({error})") from None
        if not isinstance(value, Mapping):
            raise ValueError('the request must be a JSON object of request fields, such as {"dataset": "orders"}')
        if "user" in value and value["user"] != self.user_name:
            raise ValueError(
                f"the request's user {value['user']!r} is not the row's user_name {self.user_name!r}: "
                "leave user out of the request"
            )
        return {**value, "user": self.user_name}


class RequestTable:
    """Reads and writes ``export_requests`` in the database at ``url``."""

    def __init__(self, url: str):
        self.engine = source_engine(url)

    def create(self) -> bool:
        """Create the table and its index if missing; True when it was created."""
        existed = sa.inspect(self.engine).has_table(REQUESTS_TABLE)
        export_requests.metadata.create_all(self.engine, tables=[export_requests])
        return not existed

    def exists(self) -> bool:
        return sa.inspect(self.engine).has_table(REQUESTS_TABLE)

    def insert(self, user_name: str, request: Mapping[str, Any] | str) -> int:
        """Add a request, as an application does; returns its id."""
        with self.engine.begin() as connection:
            result = connection.execute(export_requests.insert().values(user_name=user_name, request=request))
            return int(result.inserted_primary_key[0])

    def new_rows(self, after: int | None, limit: int) -> list[RequestRow]:
        """Rows still ``new``, lowest id first: above ``after`` (the cursor), or all of them when None."""
        query = sa.select(export_requests).where(export_requests.c.status == NEW)
        if after is not None:
            query = query.where(export_requests.c.id > after)
        return self._rows(query.order_by(export_requests.c.id).limit(limit))

    def in_flight(self, limit: int) -> list[RequestRow]:
        """Rows whose run has not been seen to end, least recently updated first."""
        query = sa.select(export_requests).where(export_requests.c.status.in_(IN_FLIGHT))
        return self._rows(query.order_by(export_requests.c.updated_at, export_requests.c.id).limit(limit))

    def get(self, request_id: int) -> RequestRow | None:
        rows = self._rows(sa.select(export_requests).where(export_requests.c.id == request_id))
        return rows[0] if rows else None

    def advance(self, request_id: int, status: str, **values) -> bool:
        """Move a row to ``status`` (with ``run_id``, ``reason``, ``file_key``, ``link``, ``rows``) unless it is
        there or further already; True when the row changed. The condition is in the UPDATE, so two writers
        (the status sensor and the reconciliation) cannot move a row backwards between a read and a write."""
        behind = [name for name, rank in RANK.items() if rank < RANK[status]]
        statement = (
            export_requests.update()
            .where(export_requests.c.id == request_id, export_requests.c.status.in_(behind))
            .values(status=status, updated_at=datetime.now(UTC), **values)
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount > 0

    def set_run_id(self, request_id: int, run_id: str) -> None:
        """Record the run made for a row (once known), whatever its status."""
        statement = (
            export_requests.update()
            .where(export_requests.c.id == request_id, export_requests.c.run_id.is_(None))
            .values(run_id=run_id, updated_at=datetime.now(UTC))
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    def _rows(self, query) -> list[RequestRow]:
        with self.engine.connect() as connection:
            return [_row(mapping) for mapping in connection.execute(query).mappings()]

    def all(self) -> Iterator[RequestRow]:
        yield from self._rows(sa.select(export_requests).order_by(export_requests.c.id))


def _row(mapping) -> RequestRow:
    return RequestRow(**{name: mapping[name] for name in RequestRow.__dataclass_fields__})
