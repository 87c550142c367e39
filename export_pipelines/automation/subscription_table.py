"""The ``export_subscriptions`` table: recurring exports that users create at run time, in the source database.

The YAML file (``subscriptions``) declares subscriptions with the deployment, one schedule each; this
table holds the ones an application (or an operator, with ``export-pipelines subscriptions``) adds,
changes and pauses while the deployment runs, all evaluated by one sensor (``subscription_sensor``).
``export-pipelines subscriptions init`` creates it. A row has the fields of ``Subscription`` and is
read through that model: a row that is not a valid subscription is skipped, with a reason naming the
subscription and the field, and never holds the others back.

``ticks_after`` is when the row's timing last changed: created, cron or time zone edited, resumed.
Only ticks after it run, so a change never runs a tick from the past: the first run is the next cron
time after the change (a paused subscription's missed ticks are not caught up, as with a schedule
turned back on). An application that edits rows with its own SQL should set ``ticks_after`` to the
time of its edit; the sensor also notices a changed cron by itself (see ``subscription_sensor``).
``window`` is a reserved word in PostgreSQL: quote it (``"window"``) in hand-written SQL.

A table made before a column was added (``skip_if_empty``) still loads: a missing column reads as its
default. ``subscriptions init`` adds the missing columns (``ALTER TABLE ... ADD COLUMN``, with defaults, so
existing rows keep meaning what they meant); until then, setting one of them is refused naming the field
and the command to run.

The table is the application's own and trusted like ``export_requests``: whoever may write a row may
ask for exports as any ``owner``. The gate admits the runs as the deployment's (the daemon sends
them); the owner's grants still decide which rows each file holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from export_pipelines.automation.subscriptions import Subscription
from export_pipelines.errors import ExportRequestError
from export_pipelines.source.engine import source_engine

SUBSCRIPTIONS_TABLE = "export_subscriptions"
TIMING = ("cron", "timezone")  # a change to either restarts the ticks from the time of the change
# Columns added after the table's first version: (name, SQL type and default) for ALTER TABLE ... ADD COLUMN.
ADDED_COLUMNS = {"skip_if_empty": "BOOLEAN NOT NULL DEFAULT FALSE"}

export_subscriptions = sa.Table(
    SUBSCRIPTIONS_TABLE,
    sa.MetaData(),
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(81), nullable=False, unique=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("cron", sa.String(120), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("recipients", sa.JSON),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("window", sa.String(32)),
    sa.Column("window_column", sa.String(128)),
    sa.Column("skip_if_empty", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ticks_after", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
)


class SubscriptionError(ExportRequestError):
    """A subscription is not valid, or cannot be changed as asked: names it, the field, and what is allowed."""

    def __init__(self, name: str, field: str, problem: str, allowed: str | None = None):
        self.name = name
        super().__init__(field, problem, allowed)
        self.args = (f"subscription {name}: {self.args[0]}",)

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class StoredSubscription:
    """A valid row: the subscription, and the time after which its ticks run."""

    subscription: Subscription
    ticks_after: datetime


@dataclass(frozen=True)
class BadRow:
    """A row that is no valid subscription; ``reason`` names the field and what it takes."""

    name: str
    reason: str
    cron: str | None = None
    timezone: str | None = None


class SubscriptionTable:
    """Reads and writes ``export_subscriptions`` in the database at ``url``."""

    def __init__(self, url: str):
        self.engine = source_engine(url)

    def create(self) -> list[str] | None:
        """Create the table if missing (None), or add the columns an older table lacks (their names)."""
        if not self.exists():
            export_subscriptions.metadata.create_all(self.engine, tables=[export_subscriptions])
            return None
        missing = [name for name in ADDED_COLUMNS if name not in self._columns()]
        with self.engine.begin() as connection:
            for name in missing:
                connection.execute(
                    sa.text(f"ALTER TABLE {SUBSCRIPTIONS_TABLE} ADD COLUMN {name} {ADDED_COLUMNS[name]}")
                )
        return missing

    def exists(self) -> bool:
        return sa.inspect(self.engine).has_table(SUBSCRIPTIONS_TABLE)

    def _columns(self) -> set[str]:
        try:
            return {column["name"] for column in sa.inspect(self.engine).get_columns(SUBSCRIPTIONS_TABLE)}
        except sa.exc.NoSuchTableError:  # then reading it fails with the database's own error, which the commands name
            return set(export_subscriptions.c.keys())

    def _present(self) -> list[sa.Column]:
        """The model's columns this table has (an older table lacks the ones added since)."""
        present = self._columns()
        return [column for column in export_subscriptions.c if column.name in present]

    def _values(self, subscription: Subscription) -> dict[str, Any]:
        """The row's values; a field set away from its default in a column the table lacks is refused."""
        values = subscription.model_dump(include=set(export_subscriptions.c.keys()))
        present = self._columns()
        for name in ADDED_COLUMNS:
            if name not in present and values.pop(name) != Subscription.model_fields[name].default:
                problem = "this deployment's subscriptions table predates this field"
                raise SubscriptionError(subscription.name, name, problem, "its operator runs `export-pipelines "
                                        "subscriptions init` first")  # fmt: skip
        return values

    def load(self) -> tuple[list[StoredSubscription], list[BadRow]]:
        """Every row, name order: the valid subscriptions, and the rows that are not (with why)."""
        good, bad = [], []
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(*self._present()).order_by(export_subscriptions.c.name))
            for row in rows.mappings():
                try:
                    good.append(StoredSubscription(validated(_fields(row)), _utc(row["ticks_after"])))
                except SubscriptionError as error:
                    bad.append(BadRow(row["name"], str(error), row["cron"], row["timezone"]))
        return good, bad

    def add(self, subscription: Subscription, now: datetime | None = None) -> None:
        """Add a subscription; its first tick is the first cron time after ``now``."""
        validated(subscription.model_dump())
        now = _utc(now or _now())
        values = {**self._values(subscription), "ticks_after": now, "created_at": now, "updated_at": now}
        try:
            with self.engine.begin() as connection:
                connection.execute(export_subscriptions.insert().values(**values))
        except sa.exc.IntegrityError:
            raise SubscriptionError(
                subscription.name, "name", "a subscription of this name exists already", "a new name, or --replace"
            ) from None

    def update(self, name: str, changes: Mapping[str, Any], now: datetime | None = None) -> Subscription:
        """Change fields of a subscription; a new cron or time zone, or a resume, counts ticks from ``now``."""
        if "name" in changes and changes["name"] != name:
            raise SubscriptionError(name, "name", "a subscription cannot be renamed", "remove it and add it anew")
        current = self._row(name)
        try:
            base = _fields(current)
        except SubscriptionError:  # unreadable JSON: the changes replace it (add --replace gives every field)
            base = {"name": name}
        subscription = validated({**base, **changes})
        now = _utc(now or _now())
        values = {**self._values(subscription), "updated_at": now}
        if any(values[field] != current[field] for field in TIMING) or (current["paused"] and not subscription.paused):
            values["ticks_after"] = now
        with self.engine.begin() as connection:
            connection.execute(export_subscriptions.update().where(export_subscriptions.c.name == name).values(values))
        return subscription

    def pause(self, name: str, now: datetime | None = None) -> bool:
        """Stop running it; True when it was running."""
        return self._set_paused(name, True, {"updated_at": _utc(now or _now())})

    def resume(self, name: str, now: datetime | None = None) -> bool:
        """Run it again from the next cron time after ``now`` (ticks missed while paused do not run)."""
        now = _utc(now or _now())
        return self._set_paused(name, False, {"updated_at": now, "ticks_after": now})

    def remove(self, name: str) -> bool:
        """Delete the row; True when there was one. Its runs stay in run history."""
        with self.engine.begin() as connection:
            result = connection.execute(export_subscriptions.delete().where(export_subscriptions.c.name == name))
            return result.rowcount > 0

    def _set_paused(self, name: str, paused: bool, values: dict) -> bool:
        self._row(name)  # names a missing subscription
        table = export_subscriptions.c
        statement = export_subscriptions.update().where(table.name == name, table.paused == (not paused))
        with self.engine.begin() as connection:
            return connection.execute(statement.values(paused=paused, **values)).rowcount > 0

    def _row(self, name: str) -> Mapping[str, Any]:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(*self._present()).where(export_subscriptions.c.name == name)
            ).mappings().first()  # fmt: skip
        if row is None:
            raise SubscriptionError(name, "name", "no subscription has this name", "a name that `list` shows")
        return row


def validated(fields: Mapping[str, Any]) -> Subscription:
    """The subscription of ``fields``, whose saved request must be a valid request; SubscriptionError naming the
    first field that is not."""
    name = fields.get("name") or "?"
    try:
        subscription = Subscription(**fields)
        subscription.export_request()
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "request"
        where = field if error.title == Subscription.__name__ else f"request.{field}"
        raise SubscriptionError(name, where, problem["msg"].removeprefix("Value error, ")) from None
    except (ValueError, ExportRequestError) as error:  # the saved request's user is not the owner
        raise SubscriptionError(name, "request", str(error).removeprefix(f"subscription {name}: ")) from None
    return subscription


def _fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as Subscription's fields; request and recipients may be JSON text, as an application wrote them."""
    fields = {name: row[name] for name in ("name", "owner", "request", "cron", "timezone", "paused", "window")}
    fields["window_column"] = row["window_column"] or "created_at"
    fields["recipients"] = row["recipients"] if row["recipients"] is not None else []
    fields["skip_if_empty"] = bool(row.get("skip_if_empty", False))  # an older table has no such column
    for name in ("request", "recipients"):
        if isinstance(fields[name], (str, bytes)):
            try:
                fields[name] = json.loads(fields[name])
            except json.JSONDecodeError as error:
                allowed = "a JSON object of request fields" if name == "request" else "a JSON array of email addresses"
                raise SubscriptionError(row["name"], name, f"not valid JSON ({error})", allowed) from None
    return fields


def _now() -> datetime:
    from dagster._time import get_current_datetime  # the clock Dagster's daemon reads (and tests freeze)

    return get_current_datetime()


def _utc(moment: datetime) -> datetime:
    """Timestamps are written and read as UTC: SQLite keeps no offset, PostgreSQL's session is in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
