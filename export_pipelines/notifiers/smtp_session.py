"""Opening an SMTP session: TLS whenever the server can do it, certificates verified, no password in clear.

``SMTP_TLS`` picks one of three modes:

- ``auto`` (the default): implicit TLS on port 465; on any other port STARTTLS when the server
  offers it, else a plain session (acceptable for an unauthenticated relay, nothing more).
- ``starttls`` (also ``SMTP_STARTTLS=true``): STARTTLS or no session at all.
- ``implicit``: TLS from the first byte (SMTPS).

Certificates are always verified against the system's trust store (``ssl.create_default_context``),
plus the certificates in ``SMTP_CA_FILE`` for a private CA. An offered STARTTLS whose certificate
does not verify fails the delivery instead of falling back to plain text: a silent fallback is
exactly the downgrade an attacker on the path would cause, and nobody would see it.

Credentials only travel encrypted: with ``SMTP_USER`` set and no TLS on the connection, the
session is refused before any AUTH command, whatever the server advertises.
"""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from export_pipelines.notifiers.email import EmailSettings

TLS_MODES = ("auto", "starttls", "implicit")
IMPLICIT_TLS_PORT = 465
STARTTLS_PORT = 587
PLAIN_PORT = 25


class InsecureSmtpSession(smtplib.SMTPException):
    """The session cannot be made as safe as configured: a permanent, configuration problem."""


def default_port(mode: str) -> int:
    """The usual port of a TLS mode: 465 for implicit TLS, 587 for STARTTLS, else 25."""
    return {"implicit": IMPLICIT_TLS_PORT, "starttls": STARTTLS_PORT}.get(mode, PLAIN_PORT)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, plus those in ``ca_file`` when given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as error:
            raise InsecureSmtpSession(
                f"SMTP_CA_FILE {str(ca_file)!r} cannot be read as PEM CA certificates ({error}); "
                "fix the path or unset SMTP_CA_FILE"
            ) from None
    return context


def open_session(settings: EmailSettings) -> smtplib.SMTP:
    """Connect, secure and log in as ``settings`` say; the caller sends and closes the session."""
    context = tls_context(settings.smtp_ca_file)
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.timeout
    if settings.smtp_tls == "implicit":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        client.ehlo_or_helo_if_needed()
        if settings.smtp_tls == "starttls" or (settings.smtp_tls == "auto" and client.has_extn("starttls")):
            client.starttls(context=context)  # raises SMTPNotSupportedError when STARTTLS is not offered
            client.ehlo()  # RFC 3207: what the server offers after TLS may differ
        if settings.smtp_user:
            if not isinstance(client.sock, ssl.SSLSocket):
                raise InsecureSmtpSession(
                    "the connection is not encrypted (the server offers no STARTTLS), so the SMTP_USER "
                    "password was not sent; enable TLS on the server, use SMTP_TLS=implicit or port 465, "
                    "or unset SMTP_USER and SMTP_PASSWORD for a relay that needs no login"
                )
            client.login(settings.smtp_user, settings.smtp_password or "")
    except BaseException:
        client.close()
        raise
    return client
