"""The subscription form's schedule presets, their cron strings, and a schedule said in words.

The form offers what most people want, every day, every week on one day, the first of every month, at a
time of day, and a custom cron for the rest. A preset becomes a plain five-field cron string, the only
thing a subscription keeps; reading a cron back gives the preset it came from when it is one, so the edit
form opens as it was filled in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRESETS = (("daily", "Every day"), ("weekly", "Every week on"), ("monthly", "On the 1st of every month"),
           ("custom", "Custom (cron)"))  # fmt: skip
WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")  # cron's 0-6
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
                "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo",
                "Australia/Sydney")  # fmt: skip
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_PRESET_CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) (\*|1) \* (\*|[0-6])$")


@dataclass(frozen=True)
class Schedule:
    """The schedule fields of the form: a preset, a time of day (HH:MM), a weekday (0-6), a custom cron."""

    preset: str = "daily"
    time: str = "06:00"
    weekday: str = "1"
    cron: str = ""


def cron_of(schedule: Schedule) -> tuple[str, dict[str, str]]:
    """The cron string of the form's schedule, and errors by field (``schedule_time``, ``cron``...) when it has
    none."""
    if schedule.preset == "custom":
        return schedule.cron.strip(), {}
    if schedule.preset not in dict(PRESETS):
        return "", {"schedule": f"choose one of: {', '.join(dict(PRESETS).values())}"}
    found = _TIME.match(schedule.time.strip())
    if not found:
        return "", {"schedule_time": f"{schedule.time!r} is not a time of day: HH:MM, such as 06:30"}
    hour, minute = int(found[1]), int(found[2])
    if schedule.preset == "daily":
        return f"{minute} {hour} * * *", {}
    if schedule.preset == "monthly":
        return f"{minute} {hour} 1 * *", {}
    if schedule.weekday not in [str(day) for day in range(7)]:
        return "", {"schedule_weekday": "choose a day of the week"}
    return f"{minute} {hour} * * {schedule.weekday}", {}


def schedule_of(cron: str) -> Schedule:
    """The form's schedule for a stored cron: its preset when it is one, else custom."""
    found = _PRESET_CRON.match(cron.strip())
    if found and int(found[1]) < 60 and int(found[2]) < 24 and not (found[3] == "1" and found[4] != "*"):
        time = f"{int(found[2]):02d}:{int(found[1]):02d}"
        if found[3] == "1":
            return Schedule("monthly", time)
        if found[4] != "*":
            return Schedule("weekly", time, found[4])
        return Schedule("daily", time)
    return Schedule("custom", cron=cron)


def in_words(cron: str) -> str:
    """``Every day at 06:00``, ``Every Monday at 07:30``, ``On the 1st of every month at 06:00``; else the cron."""
    schedule = schedule_of(cron)
    if schedule.preset == "daily":
        return f"Every day at {schedule.time}"
    if schedule.preset == "weekly":
        return f"Every {WEEKDAYS[int(schedule.weekday)]} at {schedule.time}"
    if schedule.preset == "monthly":
        return f"On the 1st of every month at {schedule.time}"
    return f"Custom schedule ({cron})"
