"""What a user may learn about the rows their grants withheld: that there were some, at most a coarse band.

The exact number of matching rows in tenants a user cannot see is itself other tenants' data:
with filters (``amount > 1000``, ``customer = 'x'``), a user who sees the exact count can learn
facts about rows they may not read, one export at a time. So the count stays in run history
(``validate_request``'s ``skipped_rows`` metadata, which the audit log reads, for operators), and
everything a user sees (the email, the result's metadata, the command line) carries only
``rows_withheld`` and, when the deployment sets ``EXPORT_WITHHELD_ROWS_DETAIL=coarse``, a band
whose edges are powers of ten: a band moves only when the hidden count changes tenfold.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from export_pipelines.errors import SettingsError

WITHHELD_DETAIL_ENV = "EXPORT_WITHHELD_ROWS_DETAIL"
DETAILS = ("none", "coarse")
_BANDS = ((10, "fewer than 10"), (100, "10–99"), (1000, "100–999"))


class WithheldRows(NamedTuple):
    """What the user is told: whether rows were withheld, and the coarse band when the deployment allows it."""

    withheld: bool
    band: str | None = None

    def metadata(self) -> dict[str, object]:
        return {"rows_withheld": self.withheld} | ({"rows_withheld_band": self.band} if self.band else {})


def withheld_detail(environ: Mapping[str, str] = os.environ) -> str:
    """``$EXPORT_WITHHELD_ROWS_DETAIL``: ``none`` (the default) or ``coarse``."""
    raw = environ.get(WITHHELD_DETAIL_ENV, "")
    detail = raw.strip().lower() or "none"
    if detail not in DETAILS:
        raise SettingsError(
            f"{WITHHELD_DETAIL_ENV}={raw!r} is not a valid setting (allowed: {', '.join(DETAILS)}); "
            "fix the deployment's environment, then rerun"
        )
    return detail


def withheld_rows(skipped_rows: int, detail: str) -> WithheldRows:
    """The user's view of ``skipped_rows`` under the deployment's ``detail`` setting."""
    if skipped_rows <= 0:
        return WithheldRows(False)
    return WithheldRows(True, coarse_band(skipped_rows) if detail == "coarse" else None)


def coarse_band(count: int) -> str:
    """fewer than 10, 10–99, 100–999 or 1,000 or more."""
    for limit, band in _BANDS:
        if count < limit:
            return band
    return "1,000 or more"
