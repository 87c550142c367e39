"""Typed errors, split by what the caller should do next.

Permanent errors (a bad request, a missing grant) must fail fast: retrying cannot fix them.
Transient errors (a dropped database connection, an SMTP hiccup) are worth retrying with backoff.
Ops turn permanent errors into ``dagster.Failure(allow_retries=False)`` so that the ops' retry
policies only ever spend retries on transient ones.
"""


class ExportError(Exception):
    """Base class of every error export_pipelines raises on purpose."""


class PermanentExportError(ExportError):
    """Retrying will not help: the request, the catalog or the grants must change first."""


class ExportRequestError(PermanentExportError):
    """The request is invalid. ``field`` names the offending field, ``allowed`` what would be accepted."""

    def __init__(self, field: str, problem: str, allowed: str | None = None):
        self.field = field
        self.problem = problem
        self.allowed = allowed
        message = f"{field}: {problem}"
        if allowed:
            message += f" (allowed: {allowed})"
        super().__init__(message)


class SettingsError(PermanentExportError, ValueError):
    """An environment variable of the deployment is malformed; the message names it and what it takes.

    Permanent (a retry reads the same variable) and a ValueError, like other bad settings.
    """


class CatalogError(PermanentExportError):
    """The dataset catalog file is malformed; fix the YAML named in the message."""


class PermissionDenied(PermanentExportError):
    """The user holds no grant that lets them export from this dataset."""


class RowLimitExceeded(PermanentExportError):
    """The export would exceed the configured row cap; narrow the filters or raise the cap."""


class SourceDatabaseError(PermanentExportError):
    """The source database refused a statement (a missing column, a type, a grant): named by its kind only."""


class TransientSourceError(ExportError):
    """The source database failed in a way that a retry may fix (connection lost, timeout)."""


class TransientDeliveryError(ExportError):
    """Storage or notification failed in a way that a retry may fix."""


class IncompleteExport(PermanentExportError):
    """A step received fewer staged chunks than were collected: the file would miss rows, so none is made."""


class SubmissionRefused(PermanentExportError):
    """The gate refused to queue or run an export; the message says why and what to do."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"export refused: {reason}")


class QueueFull(SubmissionRefused):
    """The user already has as many exports waiting as the deployment allows: the same submission may pass later."""
