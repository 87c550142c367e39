"""Whose templates a request may name: its user's own (``users/<user>/``), and its teams' (``teams/<team>/``).

The folders of ``$EXPORT_REPORT_TEMPLATE_DIR`` named ``users`` and ``teams`` hold templates that belong to
someone: ``users/analyst/monthly`` is analyst's, ``teams/finance/monthly`` is the finance team's. Every other
path (a shipped name, ``finance/monthly`` an operator put there) is the deployment's and open to every user.

Who is in a team is the application's word: its tokens carry roles ``team:<name>`` (the API's bearer token,
the pages' hand-over). A run is checked again when it runs, and a subscription when it ticks, without any
token; so the service keeps the application's last word for each user it has seen, as one empty file per
member in ``teams/<team>/.members/<user>`` (a dot folder: no request can name a file in it). The record is
brought up to date at every call that carries the user's token, so leaving a team in the application takes
effect at the user's next call, or at once with ``forget_member``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from export_pipelines.reports.template_files import TEMPLATE_DIR_ENV

TEAM_ROLE = "team:"
USERS, TEAMS, MEMBERS = "users", "teams", ".members"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a template's and a team's name
logger = logging.getLogger(__name__)
NAME_HELP = "lowercase letters, digits, _ and -, up to 64, starting with a letter or digit"


def template_root() -> Path | None:
    """The deployment's template folder, or None when it keeps none (read at every call, as the run reads it)."""
    root = os.environ.get(TEMPLATE_DIR_ENV)
    return Path(root) if root else None


def teams_of_roles(roles: Iterable[str]) -> frozenset[str]:
    """The teams a token's roles name (``team:finance``); roles that name no valid team are ignored."""
    teams = (role[len(TEAM_ROLE) :] for role in roles if role.startswith(TEAM_ROLE))
    return frozenset(team for team in teams if NAME.match(team))


def recorded_teams(user: str, root: Path | None = None) -> frozenset[str]:
    """The teams the application last said ``user`` is in."""
    root = root or template_root()
    if root is None or not _usable(user) or not (root / TEAMS).is_dir():
        return frozenset()
    markers = (root / TEAMS).glob(f"*/{MEMBERS}/{user}")  # user names hold no glob characters
    return frozenset(path.parent.parent.name for path in markers)


def record_teams(user: str, teams: frozenset[str], root: Path | None = None) -> None:
    """Keep the application's word that ``user`` is in exactly ``teams`` (nothing is written when it is known)."""
    root = root or template_root()
    if root is None or not _usable(user):
        return
    known = recorded_teams(user, root)
    try:
        for team in teams - known:
            marker = root / TEAMS / team / MEMBERS / user
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        for team in known - teams:
            forget_member(team, user, root)
    except OSError as error:  # a read-only template folder must not fail the call that carries the token
        logger.warning("cannot record the teams of %s in %s: %s", user, root / TEAMS, error)


def forget_member(team: str, user: str, root: Path | None = None) -> None:
    root = root or template_root()
    if root is not None and _usable(user):
        (root / TEAMS / team / MEMBERS / user).unlink(missing_ok=True)


def owner_refusal(spec: str, user: str, teams: frozenset[str] | None = None) -> str | None:
    """Why ``user`` may not use the template ``spec``, or None when they may (checked on the text alone).

    ``teams``: the user's teams when a token just said so; by default, the application's last word.
    """
    parts = spec.strip().split("/")
    if len(parts) < 2 or parts[0] not in (USERS, TEAMS):
        return None
    if parts[0] == USERS and parts[1] != user:
        return f"{spec!r} is another user's template: name one of yours (users/{user}/...), a team's or a shipped one"
    if parts[0] == TEAMS and parts[1] not in (recorded_teams(user) if teams is None else teams):
        return (f"{spec!r} belongs to the team {parts[1]!r}, and {user!r} is not a member: ask the application's "
                "administrator to add you to the team, or name another template")  # fmt: skip
    return None


def _usable(user: str) -> bool:
    return bool(user.strip("."))  # "." and ".." are user names a token may carry, never a file name to use
