"""Why a download is refused, as typed errors that carry their HTTP status and say what to do next.

Messages are short and safe to show to whoever holds the link: no stack trace, no key material, no
file bytes, nothing about other exports.
"""

from __future__ import annotations

from export_pipelines.errors import ExportError


class Refusal(ExportError):
    """A download that cannot go ahead. ``reason`` is a stable word for logs and JSON clients."""

    status = 400
    reason = "refused"
    title = "This download cannot go ahead"
    claims = None  # the verified link's claims, when the link itself was genuine: the download log names the export

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class InvalidLink(Refusal):
    """The link's signature does not verify (tampered, another key, another algorithm) or it is malformed."""

    status = 401
    reason = "invalid"
    title = "This link is not valid"


class LoginRequired(Refusal):
    """The deployment requires a sign-in token and none, or an invalid one, came with the request."""

    status = 401
    reason = "login_required"
    title = "Please sign in"


class Forbidden(Refusal):
    """A valid link or sign-in, but not for this: another audience, or another user's export."""

    status = 403
    reason = "forbidden"
    title = "This download is not yours"


class UnknownExport(Refusal):
    """The link names no export this deployment knows (or one that never produced a file)."""

    status = 404
    reason = "unknown"
    title = "No such export"


class Gone(Refusal):
    """The export existed but can no longer be downloaded: ``reason`` is expired, revoked or deleted."""

    status = 410
    reason = "gone"
    title = "This download is no longer available"


class NotReadable(Refusal):
    """The stored file does not decrypt: it was damaged, or its key was removed from the keyset."""

    status = 500
    reason = "unreadable"
    title = "The file cannot be read"
