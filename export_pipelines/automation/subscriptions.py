"""Subscriptions: saved export requests that run on a cron, declared in the YAML file ``$EXPORT_SUBSCRIPTIONS_PATH``.

Each subscription becomes one Dagster schedule (``subscription_schedules``). A saved request may ask
for a relative window on a timestamp column (``created_at`` unless ``window_column`` says), resolved
in the subscription's time zone when the tick is evaluated, from the tick's scheduled time:

- ``day``: the local calendar day before the tick's (a daily export holds yesterday's rows);
- ``week``: the 7 local days before the tick's day; ``month``: from the same day of the previous
  month (the last day when it has none) up to the tick's day, so a monthly tick on the 1st holds the
  previous calendar month;
- ``since_last_success``: from the end of the window of the subscription's last successful run (the
  previous tick's time when there is none) up to the tick's time.

Windows run from midnight to midnight local time, as filters ``ge start`` and ``lt end`` with UTC
offsets written out, so a day is 23 or 25 hours long across a DST change and no row is in two windows.
See ``subscriptions.example.yaml``.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from export_pipelines.errors import SettingsError
from export_pipelines.request.model import ExportRequest, describe_problems

SUBSCRIPTIONS_ENV = "EXPORT_SUBSCRIPTIONS_PATH"
Window = Literal["day", "week", "month", "since_last_success"]


class Subscription(BaseModel):
    """One recurring export: whose, what, when, in which time zone, told to whom."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,80}$", description="Unique; names the schedule.")
    owner: str = Field(description="The user the export runs as (the request's user).")
    request: dict[str, Any] = Field(description="The saved export request, without user.")
    cron: str = Field(description="When it runs, a cron string read in the time zone, e.g. '0 6 * * *'.")
    timezone: str = Field(default="UTC", description="IANA time zone of the cron and of the window.")
    recipients: list[str] = Field(default_factory=list, description="Told when each file is ready.")
    paused: bool = Field(default=False, description="Declared but not run.")
    window: Window | None = Field(default=None, description="Relative window on window_column; none: all rows.")
    window_column: str = Field(default="created_at", description="The timestamp column the window applies to.")
    skip_if_empty: bool = Field(
        default=False, description="A tick whose export has no rows makes no file and sends no mail (the run says so)."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (IANA names such as Europe/Berlin)") from None
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise ValueError(f"{value!r} is not a cron string (five fields, such as '0 6 * * *')")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def export_request(
        self, window: tuple[datetime, datetime] | None = None, tick: datetime | None = None
    ) -> ExportRequest:
        """The request of one tick: the saved one, as the owner, told the recipients, limited to ``window``.

        Relative dates in its filters or where (``within last 7 days``) mean the days before the tick's
        time, ``tick``, not before whenever the run happens to start.
        """
        if "user" in self.request and self.request["user"] != self.owner:
            raise SettingsError(f"subscription {self.name}: the request's user is not the owner {self.owner!r}")
        fields = {"timezone": self.timezone, **self.request, "user": self.owner}
        if self.recipients:
            fields["recipients"] = list(dict.fromkeys([*fields.get("recipients", []), *self.recipients]))
        if window is not None:
            start, end = window
            saved = fields.get("filters") or []
            fields["filters"] = [
                *(saved if isinstance(saved, list) else [saved]),  # a tree is one more condition
                {"column": self.window_column, "op": "ge", "value": start.isoformat()},
                {"column": self.window_column, "op": "lt", "value": end.isoformat()},
            ]
        if tick is not None:
            fields["relative_to"] = tick.isoformat()
        return ExportRequest(**fields)


def resolve_window(
    subscription: Subscription, tick: datetime, last_end: datetime | None, previous_tick: datetime | None
) -> tuple[datetime, datetime] | None:
    """The window of the tick scheduled at ``tick`` (aware), in the subscription's zone (see the module docstring)."""
    zone = subscription.zone
    if subscription.window is None:
        return None
    if subscription.window == "since_last_success":
        start = last_end or previous_tick or tick - timedelta(days=1)
        return start.astimezone(zone), tick.astimezone(zone)
    today = tick.astimezone(zone).date()
    end = _midnight(today, zone)
    if subscription.window == "day":
        return _midnight(today - timedelta(days=1), zone), end
    if subscription.window == "week":
        return _midnight(today - timedelta(days=7), zone), end
    return _midnight(_month_before(today), zone), end


def load_subscriptions(path: str | os.PathLike | None = None) -> list[Subscription]:
    """The subscriptions of the YAML file at ``path`` (default ``$EXPORT_SUBSCRIPTIONS_PATH``; none when unset)."""
    path = path or os.environ.get(SUBSCRIPTIONS_ENV)
    if not path:
        return []
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError(f"{SUBSCRIPTIONS_ENV}={path}: cannot read the subscriptions ({error})") from None
    entries = document.get("subscriptions") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SettingsError(f"{path}: expected a list under 'subscriptions' (see subscriptions.example.yaml)")
    subscriptions = []
    for index, entry in enumerate(entries):
        try:
            subscription = Subscription(**entry) if isinstance(entry, dict) else Subscription()
            subscription.export_request()  # the saved request must be one
        except ValidationError as error:
            name = entry.get("name", f"#{index + 1}") if isinstance(entry, dict) else f"#{index + 1}"
            raise SettingsError(f"{path}: subscription {name}: {describe_problems(error, 'entry')}") from None
        subscriptions.append(subscription)
    names = [s.name for s in subscriptions]
    if len(set(names)) != len(names):
        raise SettingsError(
            f"{path}: subscription names must be unique; repeated: {sorted({n for n in names if names.count(n) > 1})}"
        )
    return subscriptions


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _month_before(day: date) -> date:
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    for candidate in range(day.day, 0, -1):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")
