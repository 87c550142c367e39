"""failures.is_transient over real exception instances: each one provoked from the real component.

PostgreSQL errors come from a real server (a division by zero, a missing table, a serialization
failure between two real transactions, a connection terminated by an administrator, a refused
connection to a closed port), SMTP errors from a real aiosmtpd server, Redis and S3 errors from
real clients talking to nothing. What the classifier says is what the retry policy will do.
"""

from __future__ import annotations

import smtplib
import socket
import sqlite3
import threading

import psycopg
import pytest
import sqlalchemy as sa

from export_pipelines.errors import (
    PermanentExportError,
    SourceDatabaseError,
    TransientDeliveryError,
    TransientSourceError,
)
from export_pipelines.failures import describe, is_transient
from export_pipelines.notifiers.email import EmailSettings
from export_pipelines.security.streaming_aead import DecryptionError
from export_pipelines.source.engine import source_connection
from export_pipelines.storage.s3_client import S3Settings
from export_pipelines_tests.services import free_port


def caught(action) -> BaseException:
    """Run ``action`` and return what it raised (it must raise)."""
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - the error is the test's subject
        return error
    raise AssertionError(f"{action} raised nothing")


@pytest.fixture(scope="module")
def pg_url(postgres_database) -> str:
    """A libpq URL (for psycopg) of a fresh database with one table."""
    url = sa.make_url(postgres_database("failures")).set(drivername="postgresql")
    text = url.render_as_string(hide_password=False)
    with psycopg.connect(text, autocommit=True) as connection:
        connection.execute("CREATE TABLE counters (id int PRIMARY KEY, value int)")
        connection.execute("INSERT INTO counters VALUES (1, 0), (2, 0)")
    return text


def _sa_url(libpq_url: str) -> str:
    return libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)


def serialization_failure(url: str) -> psycopg.Error:
    """Two SERIALIZABLE transactions that read what the other writes: the second commit fails with 40001."""
    first, second = psycopg.connect(url), psycopg.connect(url)
    try:
        for connection in (first, second):
            connection.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        first.execute("SELECT sum(value) FROM counters")
        second.execute("SELECT sum(value) FROM counters")
        first.execute("UPDATE counters SET value = value + 1 WHERE id = 1")
        second.execute("UPDATE counters SET value = value + 1 WHERE id = 2")
        first.commit()
        return caught(second.commit)
    finally:
        first.close()
        second.close()


def admin_shutdown(url: str) -> psycopg.Error:
    """pg_terminate_backend from another session: the victim's next statement fails with 57P01."""
    victim = psycopg.connect(url, autocommit=True)
    try:
        pid = victim.info.backend_pid
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return caught(lambda: victim.execute("SELECT 1"))
    finally:
        victim.close()


def through_source_connection(url: str, statement: str) -> BaseException:
    def run():
        with source_connection(url if "://" in url and "+" in url.split("://")[0] else _sa_url(url)) as connection:
            connection.execute(sa.text(statement))

    return caught(run)


def refused_source() -> BaseException:
    return through_source_connection(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x", "SELECT 1")


def sqlite_locked(tmp_path) -> sqlite3.Error:
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x int)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        return caught(lambda: sqlite3.connect(path, timeout=0).execute("SELECT * FROM t"))
    finally:
        holder.close()


def timed_out_read() -> BaseException:
    """A server that accepts and never answers: the client's read times out."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=0.2)
        try:
            return caught(lambda: client.recv(1))
        finally:
            client.close()


def key_error_while_handling_a_refused_connection() -> BaseException:
    def run():
        try:
            socket.create_connection(("127.0.0.1", free_port()), timeout=1)
        except ConnectionRefusedError:
            {}["missing"]  # a bug in the handler is a bug, whatever it handled

    return caught(run)


def smtp_error(smtp_server, code: int) -> smtplib.SMTPException:
    smtp_server.fail_next_messages(1, code=code, text="scripted")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        return caught(lambda: client.sendmail("a@example.com", ["b@example.com"], "Subject: x\r\n\r\nx"))


def smtp_dropped() -> smtplib.SMTPException:
    """A server that greets, then closes the connection at the first command."""
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve():
            connection, _ = server.accept()
            connection.sendall(b"220 hello\r\n")
            connection.recv(1024)
            connection.close()

        threading.Thread(target=serve, daemon=True).start()
        client = smtplib.SMTP(timeout=5)
        client.connect(*server.getsockname())
        return caught(client.ehlo)


def redis_refused() -> BaseException:
    import redis

    return caught(lambda: redis.Redis(port=free_port(), socket_connect_timeout=1).ping())


def s3_refused() -> BaseException:
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip
    return caught(lambda: client.list_buckets())


def s3_no_such_bucket(s3_env) -> BaseException:
    return caught(lambda: s3_env.client.head_object(Bucket="export-no-such-bucket", Key="x"))


TRANSIENT = {
    "PostgreSQL serialization failure (40001)": lambda f: serialization_failure(f["pg"]),
    "PostgreSQL admin shutdown (57P01)": lambda f: admin_shutdown(f["pg"]),
    "PostgreSQL connection refused": lambda f: caught(lambda: psycopg.connect(port=free_port(), host="127.0.0.1")),
    "SQLAlchemy OperationalError of a refused connection": lambda f: caught(
        lambda: sa.create_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x").connect()
    ),
    "source_connection of a refused connection": lambda f: refused_source(),
    "SQLite database locked": lambda f: sqlite_locked(f["tmp_path"]),
    "socket connection refused": lambda f: caught(lambda: socket.create_connection(("127.0.0.1", free_port()))),
    "socket read timeout": lambda f: timed_out_read(),
    "SMTP 451 at DATA": lambda f: smtp_error(f["smtp"], 451),
    "SMTP connection dropped": lambda f: smtp_dropped(),
    "Redis connection refused": lambda f: redis_refused(),
    "S3 endpoint refused": lambda f: s3_refused(),
    "TransientSourceError": lambda f: TransientSourceError("source database unavailable"),
    "TransientDeliveryError": lambda f: TransientDeliveryError("storage: SlowDown on UploadPart; retry later"),
}

PERMANENT = {
    "PostgreSQL division by zero (DataError)": lambda f: caught(lambda: psycopg.connect(f["pg"]).execute("SELECT 1/0")),
    "PostgreSQL missing table (ProgrammingError)": lambda f: caught(
        lambda: psycopg.connect(f["pg"]).execute("SELECT * FROM no_such_table")
    ),
    "SQLAlchemy DataError through source_connection": lambda f: through_source_connection(f["pg"], "SELECT 1/0"),
    "SQLAlchemy ProgrammingError through source_connection": lambda f: through_source_connection(
        f["pg"], "SELECT nope FROM counters"
    ),
    "SQLite no such table": lambda f: caught(lambda: sqlite3.connect(":memory:").execute("SELECT * FROM t")),
    "SMTP 550 at DATA": lambda f: smtp_error(f["smtp"], 550),
    "S3 NoSuchBucket": lambda f: s3_no_such_bucket(f["s3"]),
    "KeyError (a bug)": lambda f: caught(lambda: {}["tenant"]),
    "KeyError raised while handling a refused connection": lambda f: key_error_while_handling_a_refused_connection(),
    "DecryptionError": lambda f: DecryptionError("segment 3 does not authenticate"),
    "StorageConfigurationError": lambda f: caught(lambda: S3Settings(part_size=1)),
    "bad SMTP_PORT": lambda f: caught(lambda: EmailSettings.from_env({"SMTP_PORT": "abc"})),
    "missing file": lambda f: caught(lambda: open(f["tmp_path"] / "nothing-here", "rb")),
    "PermanentExportError": lambda f: PermanentExportError("fix the request"),
}


@pytest.fixture
def components(request, pg_url, smtp_server, tmp_path):
    found = {"pg": pg_url, "smtp": smtp_server, "tmp_path": tmp_path}
    if request.node.callspec.id == "S3 NoSuchBucket":
        found["s3"] = request.getfixturevalue("s3_env")
    return found


@pytest.mark.parametrize("case", TRANSIENT, ids=list(TRANSIENT))
def test_transient(case, components):
    error = TRANSIENT[case](components)

    assert is_transient(error), describe(error)


@pytest.mark.parametrize("case", PERMANENT, ids=list(PERMANENT))
def test_permanent(case, components):
    error = PERMANENT[case](components)

    assert not is_transient(error), describe(error)


def test_the_real_errors_are_what_the_table_says(pg_url):
    assert serialization_failure(pg_url).sqlstate == "40001"
    assert admin_shutdown(pg_url).sqlstate == "57P01"
    divided = through_source_connection(pg_url, "SELECT 1/0")
    assert isinstance(divided, SourceDatabaseError) and "SQLSTATE 22012" in str(divided)
    assert "SELECT" not in str(divided)
    refused = refused_source()
    assert isinstance(refused, TransientSourceError) and "refused" in str(refused).lower()


def test_a_permanent_source_error_is_not_dressed_up_as_transient(tmp_path):
    def run():
        with source_connection(f"sqlite:///{tmp_path / 'x.sqlite'}") as connection:
            connection.execute(sa.text("SELECT * FROM missing"))

    error = caught(run)

    assert not isinstance(error, TransientSourceError) and not is_transient(error)
