"""Admission receipts: the gate's signed word that it admitted this run, for this user and this request.

Dagster has more doors than the submission: a re-execution loads its parent's step outputs, a retry
copies its parent's tags, a run can be executed without ever being queued. So the gate's decision
travels with the run: on every export it admits, the gate (or the command line, which runs the
gate's checks itself) writes the run tag ``export/admission``, a JWT signed with the deployment's
admission key (``security.admission_keys``) holding

- ``run``: the run id it admits, so a receipt copied to another run (a re-execution copies its
  parent's tags) admits nothing there;
- ``sub``, ``dataset``, ``req``: the user, the dataset and the request's digest
  (``ExportRequest.digest``);
- ``parent``: the run it re-executes, if any; ``via``: where the submission came from.

Every step verifies the receipt, and that the plan it was handed is for the receipt's user and
request, before it acts (``ops.admitted``). A receipt cannot be typed: only the deployment holds the
key, and the gate refuses the tag from a submitter anyway.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from export_pipelines.errors import PermanentExportError
from export_pipelines.security.admission_keys import admission_keys_for_signing, admission_keys_for_verifying
from export_pipelines.settings import data_dir

TAG_ADMISSION = "export/admission"
AUDIENCE = "export-pipelines/admission"
ISSUER = "export-pipelines/gate"
REQUIRED = ("run", "sub", "dataset", "req", "via", "iat", "aud", "iss")
_SUBMIT_AGAIN = "submit the export again (through the launchpad, the application or the command line)"


class NotAdmitted(PermanentExportError):
    """The run carries no valid receipt for itself, or its plan is not the one the gate admitted."""


@dataclass(frozen=True)
class Receipt:
    """What the gate admitted: one run, for one user's one request, from one door."""

    run_id: str
    user: str
    dataset: str
    digest: str
    via: str
    parent_run_id: str | None = None

    def claims(self) -> dict[str, object]:
        return {
            "run": self.run_id, "sub": self.user, "dataset": self.dataset, "req": self.digest,
            "parent": self.parent_run_id, "via": self.via, "iat": int(time.time()),
            "aud": AUDIENCE, "iss": ISSUER,
        }  # fmt: skip


def sign_receipt(receipt: Receipt, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The run tag that carries ``receipt``, signed with the deployment's admission key."""
    keys = admission_keys_for_signing(environ, data_dir=data_dir())
    return {TAG_ADMISSION: keys.sign(receipt.claims())}


def read_receipt(tags: Mapping[str, str], run_id: str, environ: Mapping[str, str] = os.environ) -> Receipt:
    """The receipt in ``tags``, once its signature checks out and it names ``run_id``; else NotAdmitted."""
    token = tags.get(TAG_ADMISSION)
    if not token:
        raise NotAdmitted(
            f"run {run_id} was not admitted by the submission gate (it has no {TAG_ADMISSION} tag), so it may "
            f"not export anything: {_SUBMIT_AGAIN}"
        )
    keys = admission_keys_for_verifying(environ, data_dir=data_dir())
    try:
        claims = keys.verify(token, audience=AUDIENCE, issuer=ISSUER, required=REQUIRED)
    except jwt.InvalidTokenError:
        raise NotAdmitted(
            f"run {run_id}'s {TAG_ADMISSION} tag is not a receipt signed by this deployment's gate, so the run "
            f"may not export anything: {_SUBMIT_AGAIN}"
        ) from None
    if claims["run"] != run_id:
        raise NotAdmitted(
            f"run {run_id} carries the admission receipt of run {claims['run']} (copied from it), not one of its "
            f"own, so it may not export anything: {_SUBMIT_AGAIN}"
        )
    return Receipt(
        run_id=claims["run"], user=claims["sub"], dataset=claims["dataset"], digest=claims["req"],
        via=claims["via"], parent_run_id=claims.get("parent"),
    )  # fmt: skip


def check_admitted(receipt: Receipt, user: str, digest: str, what: str) -> None:
    """Refuse ``what`` (a plan, a request) unless it is for the receipt's user and request."""
    if user != receipt.user or digest != receipt.digest:
        whose = "another user's" if user != receipt.user else "another"
        raise NotAdmitted(
            f"the {what} this step was handed is {whose} request, not the one the gate admitted for run "
            f"{receipt.run_id} (it came from another run's stored step outputs); nothing was read or published. "
            "Re-execute only your own runs, all steps, or submit the export again"
        )
