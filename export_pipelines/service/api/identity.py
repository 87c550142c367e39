"""Who calls the export API: the subject of the application's bearer JWT, and whom an admin acts for.

Only an app JWT says who the caller is (``security.app_tokens``: the deployment's public key or JWK Set,
the algorithm the key implies, audience ``EXPORT_APP_JWT_AUDIENCE``, ``exp`` and ``sub`` required,
``roles`` a list of strings; ``team:<name>`` roles are the teams whose templates the user shares). Nothing in a
body or a query does: a ``user`` field is refused (422). A
caller with the role ``admin`` may act for another user with the header ``X-Act-As: <user>``: the API
then does what that user could (their grants, their exports), and records the admin on what it creates
(run tag ``export/acted_by``) and in the service's log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from fastapi import Request

from export_pipelines.reports.template_owners import record_teams, recorded_teams, teams_of_roles
from export_pipelines.security.app_tokens import AppKeysUnavailable, AppTokenError
from export_pipelines.service.api.problems import Problem

ACT_AS_HEADER = "X-Act-As"
TAG_ACTED_BY = "export/acted_by"
_USER = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")  # the user names a request may carry (request.validation)
_BEARER = {"WWW-Authenticate": 'Bearer realm="export-api"'}
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """``user``: whose exports and grants; ``actor``: who signed in (the same, unless an admin acts for ``user``);
    ``teams``: the teams ``user`` is in (``team:<name>`` roles), whose templates they may use and edit."""

    user: str
    actor: str
    teams: frozenset[str] = field(default_factory=frozenset)

    @property
    def acting(self) -> bool:
        return self.user != self.actor

    def tags(self) -> dict[str, str]:
        """Run tags recording who acted, for a run an admin created for another user."""
        return {TAG_ACTED_BY: self.actor} if self.acting else {}

    def note(self, action: str, target: str) -> None:
        if self.acting:
            logger.info("admin %s acted for %s: %s %s", self.actor, self.user, action, target)


def caller(request: Request) -> Caller:
    """The FastAPI dependency every resource route takes: 401 without a valid token, 403 for a non-admin's X-Act-As."""
    verifier = request.app.state.verifier
    if verifier is None:
        raise Problem(401, "not_configured", "this deployment has no application key for the API: its operator sets "
                      "EXPORT_APP_JWT_PUBLIC_KEY or EXPORT_APP_JWKS_URL", headers=_BEARER)  # fmt: skip
    try:
        identity = verifier.verify(request.headers.get("authorization"))
    except AppKeysUnavailable as error:
        raise Problem(503, "keys_unavailable", str(error), headers={"Retry-After": "60"}) from None
    except AppTokenError as error:
        raise Problem(401, "sign_in", str(error), headers=_BEARER) from None
    if not _USER.match(identity.user):
        raise Problem(403, "forbidden", "the token's subject is not a user name this deployment accepts (letters, "
                      "digits and ._@+-): ask the application's administrator to fix its tokens")  # fmt: skip
    target = request.headers.get(ACT_AS_HEADER, "").strip()
    if not target or target == identity.user:
        teams = teams_of_roles(identity.roles)
        record_teams(identity.user, teams)  # for the checks made later without a token (reports.template_owners)
        return Caller(identity.user, identity.user, teams)
    if not identity.is_admin:
        raise Problem(403, "forbidden", f"only a caller with the role admin may send {ACT_AS_HEADER}: leave it out to "
                      "act as yourself")  # fmt: skip
    if not _USER.match(target):
        entry = {"field": ACT_AS_HEADER, "detail": "is not a user name", "allowed": "letters, digits and ._@+-"}
        raise Problem(422, "invalid_request", f"{ACT_AS_HEADER} is not a user name", [entry])
    return Caller(target, identity.user, recorded_teams(target))
