"""A newcomer's first commands against a database that is not there yet: one line that says what to do."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from export_pipelines.cli import main
from export_pipelines_tests.conftest import POSTGRES_ADMIN_URL
from export_pipelines_tests.services import port_open, unavailable


@pytest.fixture
def fresh_folder(tmp_path, monkeypatch):
    """A shell in a new folder: no demo database, no tables, the source URL unset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXPORT_SOURCE_DB_URL", raising=False)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "command, table, fix",
    [
        (["requests", "list"], "export_requests", "export-pipelines requests init"),
        (["subscriptions", "list"], "export_subscriptions", "export-pipelines subscriptions init"),
    ],
)
def test_listing_before_init_names_the_missing_table_and_the_command_that_creates_it(
    fresh_folder, capsys, command, table, fix
):
    database = fresh_folder / "empty.sqlite"
    sa.create_engine(f"sqlite:///{database}").connect().close()

    assert main([*command, "--db", f"sqlite:///{database}"]) == 2

    assert f"the table {table} does not exist in the source database: create it with `{fix}`" in _one_line(capsys)


def test_a_sqlite_database_in_a_folder_that_does_not_exist_says_how_to_make_one(fresh_folder, capsys):
    assert main(["requests", "list"]) == 2  # the default: var/demo.sqlite, and var/ does not exist

    assert "cannot open the SQLite database file" in _one_line(capsys)
    assert not (fresh_folder / "var").exists(), "a listing creates nothing"


@pytest.fixture
def missing_postgres_database():
    url = sa.make_url(POSTGRES_ADMIN_URL)
    if not port_open(url.host or "127.0.0.1", url.port or 5432):
        unavailable("PostgreSQL", f"nothing listens on {url.host}:{url.port}")
    name = "export_first_steps_demo"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    drop = sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with admin.connect() as connection:
        connection.execute(drop)
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(drop)
    admin.dispose()


def test_seed_demo_creates_a_postgres_database_that_does_not_exist(missing_postgres_database, fresh_folder, capsys):
    assert main(["requests", "list", "--db", missing_postgres_database]) == 2
    assert "the database export_first_steps_demo does not exist on the server" in _one_line(capsys)

    assert main(["seed-demo", "--rows", "20", "--db", missing_postgres_database]) == 0
    assert main(["seed-demo", "--rows", "30", "--db", missing_postgres_database]) == 0  # exists now: just seeded

    out = capsys.readouterr().out
    assert out.count("Created database export_first_steps_demo.") == 1 and "Seeded 30 orders" in out
    engine = sa.create_engine(missing_postgres_database)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 30
    engine.dispose()


def test_a_missing_postgres_table_is_named_with_its_command(missing_postgres_database, capsys):
    assert main(["seed-demo", "--rows", "5", "--db", missing_postgres_database]) == 0
    capsys.readouterr()

    assert main(["subscriptions", "list", "--db", missing_postgres_database]) == 2

    assert "the table export_subscriptions does not exist in the source database" in _one_line(capsys)


def test_the_template_the_readme_previews_is_shipped_and_renders(tmp_path):
    from pathlib import Path

    from pypdf import PdfReader

    project = Path(__file__).resolve().parents[1]
    (named,) = set(re.findall(r"template preview (\S+\.yaml)", (project / "README.md").read_text()))
    out = tmp_path / "preview.pdf"

    assert main(["template", "preview", str(project / named), "--rows", "40", "--out", str(out)]) == 0

    first_page = PdfReader(out).pages[0].extract_text()
    assert "Monthly orders" in first_page and "Amount (EUR)" in first_page
