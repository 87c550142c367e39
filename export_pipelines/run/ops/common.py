"""What every export op shares: the retry policy and the rule that only transient errors are retried."""


from contextlib import contextmanager

from dagster import Backoff, Failure, Jitter, RetryPolicy, RetryRequested
from dagster._core.errors import DagsterInvalidPropertyError

from export_pipelines.failures import describe, is_transient
from export_pipelines.observability.code_version import CODE_VERSION_TAG, check_code_version

# Transient failures (database, storage, SMTP) get 3 more tries after 1 s, 2 s, 4 s (with jitter).
TRANSIENT_RETRY = RetryPolicy(max_retries=3, delay=1.0, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@contextmanager
def permanent_errors_fail_fast(context=None):
    """Let transient errors reach the retry policy; turn every other error into a Failure it will not retry.

    Dagster's retry policy retries whatever is raised, bugs included: three more attempts and a
    quarter of a minute of backoff that cannot fix a KeyError, a bad request or a wrong setting,
    and that repeat the step's side effects. ``failures.is_transient`` decides; a permanent error
    fails the step at once, its message and type in the failure's metadata.

    Given the op's context, first check that this process runs the code the run started with.
    """
    try:
        expected = run_tags(context).get(CODE_VERSION_TAG)
        if expected:
            check_code_version(expected, context.op_handle.name)
        yield
    except (Failure, RetryRequested):  # already say whether to retry
        raise
    except Exception as error:
        if not is_transient(error):
            raise Failure(
                description=describe(error), metadata={"error_type": type(error).__name__}, allow_retries=False
            ) from error
        if _retry_number(context) < TRANSIENT_RETRY.max_retries:
            raise
        # Out of retries: say what kept failing (Dagster's own message would be "Exceeded max_retries").
        attempts = TRANSIENT_RETRY.max_retries + 1
        raise Failure(
            description=f"{describe(error)} (still failing after {attempts} attempts; retry the export later)",
            metadata={"error_type": type(error).__name__, "attempts": attempts},
            allow_retries=False,
        ) from error


def _retry_number(context) -> int:
    return getattr(context, "retry_number", 0) if context is not None else 0


def run_tags(context) -> dict:
    """The run's tags as they are now: the executor sets the code version after the run started (a
    retried run starts with its parent's, from before a deploy), and in-process steps hold the run as it was.
    """
    if context is None:
        return {}
    try:
        run = context.run
    except DagsterInvalidPropertyError:  # invoked directly, outside a run
        return {}
    current = context.instance.get_run_by_id(run.run_id)
    return current.tags if current is not None else run.tags
