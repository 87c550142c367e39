"""What every export op shares: the retry policy and the rule that permanent errors fail fast."""


from contextlib import contextmanager

from dagster import Backoff, Failure, Jitter, RetryPolicy
from dagster._core.errors import DagsterInvalidPropertyError

from export_pipelines.code_version import CODE_VERSION_TAG, CodeVersionMismatch, check_code_version
from export_pipelines.errors import PermanentExportError

# Transient failures (database, storage, SMTP) get 3 more tries after 1 s, 2 s, 4 s (with jitter).
TRANSIENT_RETRY = RetryPolicy(max_retries=3, delay=1.0, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@contextmanager
def permanent_errors_fail_fast(context=None):
    """Re-raise permanent errors as a Failure that the retry policy will not retry.

    Given the op's context, first check that this process runs the code the run started with.
    """
    try:
        expected = _run_tags(context).get(CODE_VERSION_TAG)
        if expected:
            check_code_version(expected, context.op_handle.name)
        yield
    except (PermanentExportError, CodeVersionMismatch) as error:
        raise Failure(
            description=f"{type(error).__name__}: {error}",
            metadata={"error_type": type(error).__name__},
            allow_retries=False,
        ) from error


def _run_tags(context) -> dict:
    if context is None:
        return {}
    try:
        return context.run.tags
    except DagsterInvalidPropertyError:  # invoked directly, outside a run
        return {}
