"""Small seeded demo sources (SQLite and PostgreSQL) for tests that read the source directly.

Module scope: every module seeds its own rows, so a module that reseeds the shared PostgreSQL
database (with another row count) between two modules cannot change what these tests see.
"""

from __future__ import annotations

import pytest

from export_pipelines.demo.seed import seed_demo

SEEDED_ROWS = 500


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'demo.sqlite'}"
    seed_demo(url, rows=SEEDED_ROWS)
    return url


@pytest.fixture(scope="module")
def postgres_url(postgres_server_url) -> str:
    seed_demo(postgres_server_url, rows=SEEDED_ROWS)
    return postgres_server_url
