"""Sending one message by SMTP, and what a failure means for a retry.

SMTP failures are split the way the ops' retry policies need: ``TransientDeliveryError`` for what a
retry may fix (connection trouble, 4xx replies), ``NotificationRejected`` for what it cannot (a refused
login, 5xx replies, a server lacking STARTTLS or AUTH, a certificate that does not verify, a password
that would travel unencrypted). How the session is secured is decided in ``smtp_session``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import TYPE_CHECKING

from export_pipelines.errors import PermanentExportError, TransientDeliveryError
from export_pipelines.notifiers.base import DeliveryReceipt
from export_pipelines.notifiers.smtp_session import InsecureSmtpSession, open_session

if TYPE_CHECKING:
    from export_pipelines.notifiers.email import EmailSettings

log = logging.getLogger(__name__)


class NotificationRejected(PermanentExportError):
    """The mail server refused the message for good: fix the SMTP settings or the addresses."""


def send_smtp(settings: EmailSettings, message: EmailMessage, recipients: tuple[str, ...]) -> DeliveryReceipt:
    """Send ``message`` to ``recipients`` through the server ``settings`` name, in one session."""
    destination = f"{settings.smtp_host}:{settings.smtp_port}"
    client = None
    try:
        client = open_session(settings)
        refused = client.send_message(message, from_addr=settings.smtp_from, to_addrs=list(recipients))
    except (smtplib.SMTPException, OSError) as error:
        raise classify_smtp_error(error, destination) from error
    finally:
        if client is not None:
            _close_quietly(client)
    if refused:
        # The others already have the message: raising would make a retry send it to them twice.
        log.warning("%s accepted the export notification but refused %s", destination, _describe(refused))
    return DeliveryReceipt("smtp", destination)


def classify_smtp_error(error: Exception, destination: str) -> Exception:
    """Map an smtplib/socket error to TransientDeliveryError (retry) or NotificationRejected (don't)."""
    where = f"SMTP server {destination}"
    # Order matters: every smtplib error is an OSError, and most are SMTPResponseExceptions.
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        if all(400 <= code < 500 for code, _ in error.recipients.values()):
            return TransientDeliveryError(
                f"{where} deferred every recipient ({_describe(error.recipients)}); retry later"
            )
        return NotificationRejected(
            f"{where} refused the recipients ({_describe(error.recipients)}); check the addresses"
        )
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return NotificationRejected(
            f"{where} refused the login ({error.smtp_code} {_text(error.smtp_error)}); "
            "check SMTP_USER and SMTP_PASSWORD"
        )
    if isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return TransientDeliveryError(f"{where} closed or stalled the connection ({error}); retry later")
    if isinstance(error, smtplib.SMTPResponseException):
        reply = f"{error.smtp_code} {_text(error.smtp_error)}"
        if 400 <= error.smtp_code < 500:
            return TransientDeliveryError(f"{where} answered {reply}; retry later")
        return NotificationRejected(f"{where} rejected the message: {reply}")
    if isinstance(error, InsecureSmtpSession):
        return NotificationRejected(f"{where}: {error}")
    if isinstance(error, ssl.SSLCertVerificationError):
        return NotificationRejected(
            f"{where} presented a certificate that does not verify ({error}); fix the certificate, "
            "or set SMTP_CA_FILE to the PEM file of the CA that signed it"
        )
    if isinstance(error, ssl.SSLError) and not isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return NotificationRejected(
            f"{where}: the TLS handshake failed ({error}); check SMTP_TLS and SMTP_PORT "
            "(implicit TLS is usually port 465, STARTTLS 587)"
        )
    if isinstance(error, smtplib.SMTPException):  # e.g. no STARTTLS/AUTH/SMTPUTF8 support: configuration
        return NotificationRejected(f"{where}: {error}; check SMTP_STARTTLS, SMTP_USER and the addresses")
    return TransientDeliveryError(
        f"cannot reach {where} ({type(error).__name__}: {error}); retry later, "
        "or check SMTP_HOST and SMTP_PORT if this persists"
    )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _describe(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address}: {code} {_text(reply)}" for address, (code, reply) in refused.items())


def _close_quietly(client: smtplib.SMTP) -> None:
    # A failed QUIT after the message was accepted must not turn a delivery into an error (and a resend).
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
