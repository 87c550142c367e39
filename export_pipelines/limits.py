"""How big a request may be: every cap validation enforces, in one place, overridable by environment.

The limits are read when a request is validated (``Limits.from_env()``), never at import time, so
an operator can change them without reinstalling and tests can set them per test. A value that is
not a positive whole number is a deployment mistake and is reported naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from export_pipelines.errors import SettingsError

MAX_RECIPIENTS_ENV = "EXPORT_MAX_RECIPIENTS"
DEFAULT_MAX_RECIPIENTS = 20


@dataclass(frozen=True)
class Limits:
    """The caps one request is checked against."""

    max_recipients: int = DEFAULT_MAX_RECIPIENTS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The defaults, each replaced by its environment variable when that is set and not empty."""
        return cls(max_recipients=_positive_int(environ, MAX_RECIPIENTS_ENV, DEFAULT_MAX_RECIPIENTS))


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} must be a whole number of 1 or more")
    return int(raw)
