"""Which failures are worth a retry: the one place that decides, for every op and the source connection.

A retry costs minutes of backoff and repeats side effects, and it cannot fix a bug, a bad request
or a wrong setting: only a failure of something outside the process (a database restarting, a
connection reset, a throttled endpoint, a deferred mail) may pass by itself. So the default is
*permanent*, and an error is transient only when something in it says so:

- our own typed errors: ``TransientSourceError``, ``TransientDeliveryError`` (and their subclasses);
- connection trouble and timeouts: refused, reset, aborted, broken pipe, unreachable, timed out;
- PostgreSQL: serialization failures and deadlocks (SQLSTATE 40001, 40P01), shutdowns (57P01-3),
  too many connections (53300), lock and statement timeouts (55P03, 57014), the connection
  exception class 08, and libpq's own connection failures (no SQLSTATE; "could not connect",
  "server closed the connection unexpectedly");
- SQLite: a database or table that is locked;
- SMTP: a dropped connection or a 4xx reply;
- S3 (botocore): 5xx, 429 and throttling codes, connection errors and timeouts;
- Redis and the Celery broker: connection and timeout errors.

Errors that wrap another (SQLAlchemy's ``.orig``, ``raise ... from``, an error raised while handling
another) are judged by the first error in the chain that says anything: a ``KeyError`` raised while
handling a dropped connection is still a bug, because programming errors decide at once.
"""

from __future__ import annotations

import errno
import smtplib
import sqlite3
import ssl

from export_pipelines.errors import PermanentExportError, TransientDeliveryError, TransientSourceError

# SQLSTATEs a retry may outlive; the whole class 08 (connection exception) is added in _postgres.
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "53200",  # out_of_memory
        "53300",  # too_many_connections
        "55P03",  # lock_not_available
        "57014",  # query_canceled (statement_timeout)
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
    }
)
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
        errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EAGAIN,
    }
)  # fmt: skip
# What libpq says, without a SQLSTATE, when the server cannot be reached or went away.
_PG_CONNECTION_SIGNS = (
    "could not connect", "connection refused", "server closed the connection", "connection reset",
    "connection timed out", "timeout expired", "terminating connection", "the database system is",
    "consuming input failed", "sending query failed", "lost synchronization", "ssl syscall error",
    "no route to host", "network is unreachable", "connection is lost", "could not receive data",
    "could not send data",
)  # fmt: skip
_S3_TRANSIENT_CODES = frozenset(
    {
        "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
        "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests", "OperationAborted",
    }
)  # fmt: skip
# A bug does not go away on a retry, whatever it was handling when it happened.
_PROGRAMMING_ERRORS = (
    LookupError, AttributeError, TypeError, NameError, AssertionError, NotImplementedError,
    ArithmeticError, ValueError, ImportError, RecursionError, UnboundLocalError,
)  # fmt: skip
_MAX_CHAIN = 20


def is_transient(error: BaseException) -> bool:
    """True when a retry of the failed step may succeed; False for everything that needs a change first."""
    for link in _chain(error):
        verdict = _verdict(link)
        if verdict is not None:
            return verdict
    return False


def describe(error: BaseException) -> str:
    """``Type: message`` of the error, for a failure that names what happened without a stack trace.

    A database error is described by its kind alone (``describe_database_error``).
    """
    database = describe_database_error(error)
    if database is not None:
        return database
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def describe_database_error(error: BaseException) -> str | None:
    """The driver's error class and code (SQLSTATE, or SQLite's result code), or None for another error.

    Never the message: SQLAlchemy's holds the statement and the values bound to it (a requester's filter
    values), PostgreSQL's may quote a value ('invalid input syntax ...: "<value>"') or a line of the SQL,
    and a stored failure is read by whoever reads run history.
    """
    try:
        from sqlalchemy import exc
    except ImportError:  # pragma: no cover - a dependency
        return None
    driver = statement_error = None
    for link in _chain(error):
        if isinstance(link, exc.StatementError):
            statement_error = statement_error or link
        elif _driver_code(link) is not None:
            driver = link
            break
    if driver is None and statement_error is None:
        return None
    if driver is None:
        return f"{type(statement_error).__name__} from the database (the statement is not recorded)"
    name = f"{type(driver).__module__.split('.')[0]}.{type(driver).__name__}"
    return f"{name} ({_driver_code(driver)}) from the database (the statement and its values are not recorded)"


def _driver_code(error: BaseException) -> str | None:
    sqlstate = getattr(error, "sqlstate", None)  # psycopg
    if sqlstate and type(error).__module__.startswith("psycopg"):
        return f"SQLSTATE {sqlstate}"
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorname", None) or "SQLite error"
    if type(error).__module__.startswith("psycopg"):
        return "no SQLSTATE"
    return None


def _chain(error: BaseException):
    """The error, then what it wraps: ``.orig`` (SQLAlchemy), ``__cause__``, else the shown ``__context__``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        if isinstance(wrapped, BaseException):
            current = wrapped
        elif current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def _verdict(error: BaseException) -> bool | None:
    """True (transient), False (permanent) or None (this error says nothing: look at what it wraps)."""
    if isinstance(error, TransientSourceError | TransientDeliveryError):
        return True
    if isinstance(error, PermanentExportError):
        return False
    for judge in (_sqlalchemy, _postgres, _sqlite, _smtp, _botocore, _broker):
        verdict = judge(error)
        if verdict is not None:
            return verdict
    if isinstance(error, _PROGRAMMING_ERRORS):
        return False
    if isinstance(error, ssl.SSLError):  # a handshake cut short is transport trouble, a bad certificate is not
        return isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError) and error.errno is not None:  # a missing file, no permission, a full disk
        return error.errno in _TRANSIENT_ERRNOS
    return None


def _sqlalchemy(error: BaseException) -> bool | None:
    try:
        from sqlalchemy import exc
    except ImportError:  # pragma: no cover - installed with the project
        return None
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True  # SQLAlchemy recognised a lost connection
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError):  # TimeoutError: the pool ran dry
        return True
    return None  # otherwise .orig, the driver's error, decides


def _postgres(error: BaseException) -> bool | None:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(error, psycopg.Error):
        return None
    state = error.sqlstate
    if state:
        return state in TRANSIENT_SQLSTATES or state.startswith("08")
    if isinstance(error, psycopg.OperationalError):  # libpq's own failures: connecting, the socket
        text = str(error).lower()
        if "password authentication failed" in text or "no pg_hba.conf entry" in text or "does not exist" in text:
            return False
        return any(sign in text for sign in _PG_CONNECTION_SIGNS)
    return False  # DataError, ProgrammingError, IntegrityError... without a SQLSTATE: still the query's fault


def _sqlite(error: BaseException) -> bool | None:
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error).lower()  # another writer holds the lock; all else is the schema or query
    if isinstance(error, sqlite3.Error):
        return False
    return None


def _smtp(error: BaseException) -> bool | None:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(400 <= code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPException):  # no STARTTLS, no AUTH, an insecure session: configuration
        return False
    return None


def _botocore(error: BaseException) -> bool | None:
    try:
        from botocore import exceptions
    except ImportError:  # pragma: no cover
        return None
    if isinstance(error, exceptions.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _S3_TRANSIENT_CODES or status >= 500 or status == 429
    if isinstance(error, exceptions.ConnectionError | exceptions.HTTPClientError):
        return True  # endpoint unreachable, connection closed, read or connect timeout
    if isinstance(error, exceptions.BotoCoreError):  # credentials, parameters, configuration
        return False
    return None


def _broker(error: BaseException) -> bool | None:
    """Redis (status, queue depth) and the Celery broker through kombu."""
    module = type(error).__module__
    if module.startswith("redis"):
        from redis import exceptions

        if isinstance(error, exceptions.AuthenticationError | exceptions.AuthorizationError):
            return False  # a ConnectionError to redis-py, but only new credentials fix it
        if isinstance(error, exceptions.ConnectionError | exceptions.TimeoutError | exceptions.BusyLoadingError):
            return True
        return isinstance(error, exceptions.TryAgainError | exceptions.ClusterDownError) or None
    if module.startswith(("kombu", "amqp")):
        from kombu import exceptions

        return isinstance(error, exceptions.OperationalError) or None
    return None
