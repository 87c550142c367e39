"""Real services for the test suite: use the machine's, else start one, else skip loudly.

With EXPORT_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails the test instead of
skipping it, so CI can never pass by quietly testing less.
"""

from __future__ import annotations

import os
import socket

import pytest

REQUIRE_SERVICES_ENV = "EXPORT_REQUIRE_SERVICES"


def services_required() -> bool:
    return os.environ.get(REQUIRE_SERVICES_ENV, "").lower() in ("1", "true", "yes")


def unavailable(service: str, reason: str):
    """Skip (on a developer's machine) or fail (in CI) because ``service`` cannot be had."""
    message = f"{service} unavailable: {reason}"
    if services_required():
        pytest.fail(f"{message} ({REQUIRE_SERVICES_ENV} is set, so this fails instead of skipping)")
    pytest.skip(f"{message}; set up {service} to run this test")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
