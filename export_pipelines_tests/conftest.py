"""Shared fixtures: real databases, a real SMTP server, a Dagster instance per test."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from export_pipelines_tests.chromium import chromium  # noqa: F401 (the page tests' browser, a fixture for every module)
from export_pipelines_tests.services import port_open, unavailable

pytest_plugins = [
    "export_pipelines_tests.smtp_server",
    "export_pipelines_tests.redis_server",
    "export_pipelines_tests.seeded_sources",
    "export_pipelines_tests.s3_server",
    "export_pipelines_tests.sentry_server",
]

# Tests never report to a developer's real Sentry project; test_monitoring points the SDK at its own receiver.
for _name in ("SENTRY_DSN", "EXPORT_SENTRY_DSN"):
    os.environ.pop(_name, None)
# Runs submitted in tests wait for the daemon, or stay queued where none runs (what many tests look at), instead of
# being launched at submission by the shipped config: test_launch_on_submission covers that path, and the test of
# twelve exports with exactly ten running turns it back on for its dagster dev.
os.environ["EXPORT_LAUNCH_ON_SUBMISSION"] = "0"

def pytest_collection_modifyitems(config, items):
    """End-to-end modules first. `make test` gives each process whole modules, in this order: the long
    ones then run beside the many short ones instead of alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)  # stable: the rest keep their order


@pytest.fixture(scope="session", autouse=True)
def own_homes(tmp_path_factory):
    """A Dagster home and a data folder of this test process's own, for tests that set neither.

    `make test` exports the project's `.dagster_home` and `var/`; with the suite spread over several
    processes those would be one instance and one data folder written by all of them at once.
    """
    home = tmp_path_factory.mktemp("default_dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        patch.setenv("EXPORT_DATA_DIR", str(tmp_path_factory.mktemp("default_var")))
        yield


@pytest.fixture(autouse=True)
def fresh_code_version():
    """Each test computes the code version from its own environment: a release id a Celery test sets
    (EXPORT_CODE_VERSION) must not stay cached for later tests, whose step processes hash the source."""
    from export_pipelines.observability.code_version import code_version

    code_version.cache_clear()
    yield
    code_version.cache_clear()


POSTGRES_ADMIN_URL = os.environ.get(
    "EXPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_database():
    """Factory: a throw-away PostgreSQL database per call, all dropped at the end of the session."""
    url = sa.make_url(POSTGRES_ADMIN_URL)
    if not port_open(url.host or "127.0.0.1", url.port or 5432):
        unavailable("PostgreSQL", f"nothing listens on {url.host}:{url.port}")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    created = []

    def create(purpose: str = "test") -> str:
        name = f"export_{purpose}_{uuid.uuid4().hex[:10]}"
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as error:
            unavailable("PostgreSQL", f"cannot create a test database: {error}")
        created.append(name)
        return url.set(database=name).render_as_string(hide_password=False)

    try:
        yield create
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server_url(postgres_database):
    """A throw-away PostgreSQL database on the local server for source data."""
    return postgres_database("source")


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    """A fresh persistent Dagster instance (SQLite) so run history can be read back."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def small_server_chunks(monkeypatch):
    """Chunks PostgreSQL writes cut at the request's chunk_size, as the rows read here are: tests of chunking
    need several chunks of a few rows, where a deployment's hold at least 1,000,000 (``server_text.chunk_rows``)."""
    monkeypatch.setenv("EXPORT_SERVER_CHUNK_ROWS", "1")
