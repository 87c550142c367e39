"""Email notifications: through SMTP when a server is configured, else into an outbox folder.

The outbox (one ``.eml`` file per message) is also the fallback when SMTP keeps failing, so a
finished export is never announced to nobody: an operator can send the files as they are.
It is mail text on disk, readable by whoever can read the folder: so the folder is 0700, each file
0600, and a message filed there carries the download link only, never the exported file itself.
Sending by SMTP, and which failures a retry may fix, is ``smtp_delivery``'s; how the session is
secured, ``smtp_session``'s.

This module is ``export_pipelines.notifiers.email``; ``from email ...`` below still means the
standard library, because imports are absolute.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from export_pipelines.notifiers.base import DeliveryReceipt, ExportNotification, FailureNotification, Notifier
from export_pipelines.notifiers.email_message import build_failure_message, build_message
from export_pipelines.notifiers.smtp_delivery import NotificationRejected, send_smtp
from export_pipelines.notifiers.smtp_session import IMPLICIT_TLS_PORT, TLS_MODES, default_port
from export_pipelines.request.recipients import PLAIN_ADDRESS, AddressError, plain_address
from export_pipelines.security.private_files import FILE_MODE, FOLDER_MODE, make_private_folder

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
ATTACH_MAX_ENV = "EXPORT_EMAIL_ATTACH_MAX_BYTES"
DEFAULT_ATTACH_MAX_BYTES = 5 * 1024 * 1024
_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class EmailSettings:
    """How to reach the SMTP server; with no ``smtp_host``, messages are filed in ``outbox_dir``."""

    smtp_host: str | None = None
    smtp_port: int | None = None  # None means the usual port: 465 implicit TLS, 587 STARTTLS, else 25
    smtp_starttls: bool = False  # the same as smtp_tls="starttls"
    smtp_tls: str = "auto"  # auto, starttls or implicit: see smtp_session
    smtp_ca_file: Path | None = None  # extra CA certificates (PEM) to trust, for a private CA
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "exports@localhost"
    outbox_dir: Path = Path("var/outbox")
    timeout: float = 30.0
    # Attach the file when it takes at most this many bytes in the message (base64 and line breaks
    # included: see email_message.encoded_size); 0 never attaches.
    attach_max_bytes: int = DEFAULT_ATTACH_MAX_BYTES

    def __post_init__(self):
        if self.smtp_tls not in TLS_MODES:
            raise ValueError(f"SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {self.smtp_tls!r}")
        if self.smtp_starttls and self.smtp_tls == "implicit":
            raise ValueError("SMTP_STARTTLS=true and SMTP_TLS=implicit contradict each other; set one of them")
        if self.smtp_starttls or self.smtp_tls == "starttls":
            object.__setattr__(self, "smtp_starttls", True)
            object.__setattr__(self, "smtp_tls", "starttls")
        if self.smtp_tls == "auto" and self.smtp_port == IMPLICIT_TLS_PORT:
            object.__setattr__(self, "smtp_tls", "implicit")
        if self.smtp_port is None:
            object.__setattr__(self, "smtp_port", default_port(self.smtp_tls))
        if self.smtp_ca_file is not None:
            object.__setattr__(self, "smtp_ca_file", Path(self.smtp_ca_file))
        object.__setattr__(self, "outbox_dir", Path(self.outbox_dir))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EmailSettings:
        """Read SMTP_* and EXPORT_OUTBOX_DIR; an empty variable counts as unset (``SMTP_HOST=`` = outbox).

        SMTP_TLS is auto, starttls or implicit (see ``smtp_session``); SMTP_CA_FILE names PEM
        certificates to trust besides the system's.
        """

        def get(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        starttls = (get("SMTP_STARTTLS") or "false").lower()
        if starttls not in _TRUE + _FALSE:
            raise ValueError(f"SMTP_STARTTLS must be one of {', '.join(_TRUE + _FALSE)}, not {starttls!r}")
        port = get("SMTP_PORT")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"SMTP_PORT must be a port number (1-65535), not {port!r}")
        return cls(
            smtp_host=get("SMTP_HOST"),
            smtp_port=int(port) if port else None,
            smtp_starttls=starttls in _TRUE,
            smtp_tls=(get("SMTP_TLS") or "auto").lower(),
            smtp_ca_file=Path(get("SMTP_CA_FILE")) if get("SMTP_CA_FILE") else None,
            smtp_user=get("SMTP_USER"),
            smtp_password=environ.get("SMTP_PASSWORD") or None,  # not stripped: spaces may be part of it
            smtp_from=get("SMTP_FROM") or cls.smtp_from,
            outbox_dir=outbox_dir_from_env(environ),
            attach_max_bytes=attach_max_bytes_from_env(environ),
        )

    @classmethod
    def outbox_only_from_env(cls, environ: Mapping[str, str] = os.environ) -> EmailSettings:
        """Outbox settings alone: what still works when the SMTP_* variables cannot be read."""
        try:
            attach_max_bytes = attach_max_bytes_from_env(environ)
        except ValueError:  # unreadable too: a message without the file still has its link
            attach_max_bytes = 0
        return cls(outbox_dir=outbox_dir_from_env(environ), attach_max_bytes=attach_max_bytes)


def attach_max_bytes_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """``$EXPORT_EMAIL_ATTACH_MAX_BYTES``: a whole number of bytes, 0 to never attach; 5 MiB when unset."""
    raw = environ.get(ATTACH_MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_ATTACH_MAX_BYTES
    if not raw.isdigit():
        raise ValueError(f"{ATTACH_MAX_ENV} must be a whole number of bytes (0 never attaches), not {raw!r}")
    return int(raw)


def outbox_dir_from_env(environ: Mapping[str, str] = os.environ) -> Path:
    """``$EXPORT_OUTBOX_DIR``, else ``outbox`` in ``$EXPORT_DATA_DIR`` (or ./var)."""
    outbox = environ.get("EXPORT_OUTBOX_DIR", "").strip()
    return Path(outbox or Path(environ.get("EXPORT_DATA_DIR", "").strip() or "var") / "outbox")


class EmailNotifier(Notifier):
    """Tells the recipients their export is ready, by SMTP or, without a server, via the outbox."""

    name = "email"

    def __init__(self, settings: EmailSettings):
        self.settings = settings

    def send(self, notification: ExportNotification) -> DeliveryReceipt:
        """Deliver to ``notification.recipients``.

        With no recipients nothing is sent or written and the receipt is ``("none", "")``: whether
        that is fine or an error is the caller's call, not the mail channel's.
        """
        if not notification.recipients:
            return DeliveryReceipt("none", "")
        _check_addresses(notification.recipients)
        if not self.settings.smtp_host:
            return self.write_to_outbox(notification)
        message = build_message(notification, self.settings.smtp_from, self.settings.attach_max_bytes)
        return send_smtp(self.settings, message, notification.recipients)

    def write_to_outbox(self, notification: ExportNotification) -> DeliveryReceipt:
        """File the message as ``<UTC timestamp>-<run id>.eml``; also the fallback when SMTP keeps failing.

        The file is written under a temporary name and renamed into place, so whatever sends the
        outbox never picks up half a message. Never with the file attached (``attach_max_bytes`` is for
        SMTP): the outbox would otherwise hold a decrypted copy of every export.
        """
        _check_addresses(notification.recipients)
        message = build_message(notification, self.settings.smtp_from, 0)
        return self._file(message, notification.run_id)

    def send_failure(self, notice: FailureNotification, outbox: bool = False) -> DeliveryReceipt:
        """Tell ``notice.recipients`` their export failed and why: by SMTP, or into the outbox when there
        is no server or ``outbox`` is set (the fallback when SMTP fails). No recipients: ``("none", "")``.
        """
        if not notice.recipients:
            return DeliveryReceipt("none", "")
        _check_addresses(notice.recipients)
        message = build_failure_message(notice, self.settings.smtp_from)
        if outbox or not self.settings.smtp_host:
            return self._file(message, notice.run_id)
        return send_smtp(self.settings, message, notice.recipients)

    def _file(self, message: EmailMessage, run_id: str) -> DeliveryReceipt:
        folder = self.settings.outbox_dir
        make_private_folder(folder)
        if folder.stat().st_mode & 0o777 != FOLDER_MODE:  # made before, by an older version or by hand
            os.chmod(folder, FOLDER_MODE)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        final = folder / f"{stamp}-{_UNSAFE_IN_FILE_NAME.sub('_', run_id)}.eml"
        temporary = folder / f".{final.name}.{uuid.uuid4().hex}.tmp"
        try:
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as sink:
                os.fchmod(sink.fileno(), FILE_MODE)  # the umask may have narrowed it, never widened: be exact
                sink.write(message.as_bytes(policy=policy.SMTP))
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        return DeliveryReceipt("outbox", str(final))


def _check_addresses(recipients: tuple[str, ...]) -> None:
    """Refuse anything but plain addresses, even though validation checked them already.

    Defence in depth: a notification can be built by code other than the request gate (a re-sent
    run, a future launch path), and one "address" holding a comma or a line break would mail
    people nobody asked for.
    """
    for index, recipient in enumerate(recipients):
        try:
            plain_address(recipient)
        except AddressError as error:
            raise NotificationRejected(f"recipients[{index}]: {error}; allowed: {PLAIN_ADDRESS}") from None
