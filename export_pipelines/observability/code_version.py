"""Which code a step runs, so a worker still running an old deploy cannot pass for the new one.

A Celery worker keeps the code it imported when it started. After a deploy, a step sent to a
worker that was not restarted would run the old code and still report success. The process that
orchestrates the run tags it with its code version before any step is sent; every step compares
that tag with its own version and fails, without retries, when they differ.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

CODE_VERSION_ENV = "EXPORT_CODE_VERSION"
CODE_VERSION_TAG = "export/code_version"


class CodeVersionMismatch(Exception):
    """Raised when a step runs other code than the run started with."""


@lru_cache(maxsize=1)
def code_version() -> str:
    """$EXPORT_CODE_VERSION (a release id) if set, else a hash of the package's source files."""
    return code_version_on_disk()


def code_version_on_disk() -> str:
    """``code_version`` read again now (~15 ms): for a long-lived process that must notice a deploy."""
    explicit = os.environ.get(CODE_VERSION_ENV)
    if explicit:
        return explicit
    package = Path(__file__).resolve().parent.parent  # the whole export_pipelines package
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def check_code_version(expected: str, step: str) -> None:
    """Raise CodeVersionMismatch when this process's code is not the run's."""
    actual = code_version()
    if actual != expected:
        raise CodeVersionMismatch(
            f"step {step} ran code version {actual} on {os.uname().nodename} (pid {os.getpid()}), "
            f"but the run started with {expected}: restart the Celery workers after every deploy"
        )
