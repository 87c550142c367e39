"""Only transient errors are retried: attempts counted in the event log of real runs.

The ops here are small, but they are built exactly like the export ops (``TRANSIENT_RETRY`` and
``permanent_errors_fail_fast``), and the errors are real: a KeyError from a lookup, a refused TCP
connection, a real PostgreSQL division by zero.
"""

import socket

import psycopg
import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance, OpExecutionContext, job, op

from export_pipelines.run.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines_tests.services import free_port

_ATTEMPTS: dict[str, int] = {}


def _count(name: str) -> int:
    _ATTEMPTS[name] = _ATTEMPTS.get(name, 0) + 1
    return _ATTEMPTS[name]


@op(retry_policy=TRANSIENT_RETRY)
def look_up_a_missing_key(context: OpExecutionContext) -> None:
    with permanent_errors_fail_fast(context):
        _count("bug")
        {"acme": 1}["globex"]


@op(retry_policy=TRANSIENT_RETRY)
def connect_to_a_closed_port_once(context: OpExecutionContext) -> None:
    with permanent_errors_fail_fast(context):
        if _count("refused") == 1:
            socket.create_connection(("127.0.0.1", free_port()), timeout=1)


@op(retry_policy=TRANSIENT_RETRY, config_schema={"url": str})
def divide_by_zero_in_postgres(context: OpExecutionContext) -> None:
    with permanent_errors_fail_fast(context), psycopg.connect(context.op_config["url"]) as connection:
        _count("data_error")
        connection.execute("SELECT 1/0")


@job
def bug_job():
    look_up_a_missing_key()


@job
def refused_once_job():
    connect_to_a_closed_port_once()


@job
def data_error_job():
    divide_by_zero_in_postgres()


def attempts(instance: DagsterInstance, run_id: str, step_key: str) -> int:
    """Step attempts as the event log tells them: the first, plus one per STEP_UP_FOR_RETRY."""
    retries = [
        entry
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
        if entry.dagster_event.step_key == step_key
    ]
    return 1 + len(retries)


def failure_of(instance: DagsterInstance, run_id: str):
    (entry,) = instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    return entry.dagster_event.event_specific_data.user_failure_data


@pytest.fixture
def instance(dagster_home):
    _ATTEMPTS.clear()
    with DagsterInstance.get() as instance:
        yield instance


def test_a_key_error_fails_after_one_attempt_naming_its_type(instance):
    result = bug_job.execute_in_process(instance=instance, raise_on_error=False)

    assert not result.success
    assert attempts(instance, result.run_id, "look_up_a_missing_key") == 1 == _ATTEMPTS["bug"]
    failure = failure_of(instance, result.run_id)
    assert failure.description == "KeyError: 'globex'"
    assert failure.metadata["error_type"].value == "KeyError"


def test_a_refused_connection_is_retried_and_the_step_succeeds(instance):
    result = refused_once_job.execute_in_process(instance=instance, raise_on_error=False)

    assert result.success
    assert attempts(instance, result.run_id, "connect_to_a_closed_port_once") == 2 == _ATTEMPTS["refused"]


def test_a_real_postgres_data_error_is_not_retried(instance, postgres_database):
    url = sa.make_url(postgres_database("retries")).set(drivername="postgresql").render_as_string(False)
    config = {"ops": {"divide_by_zero_in_postgres": {"config": {"url": url}}}}

    result = data_error_job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)

    assert not result.success
    assert attempts(instance, result.run_id, "divide_by_zero_in_postgres") == 1 == _ATTEMPTS["data_error"]
    failure = failure_of(instance, result.run_id)
    assert failure.metadata["error_type"].value == "DivisionByZero"
    # Named by driver class and SQLSTATE: the driver's own message may quote a value, so it is not stored.
    assert "DivisionByZero (SQLSTATE 22012)" in failure.description
