"""A real SMTP server on loopback (aiosmtpd) for notifier tests: no mocked smtplib anywhere.

Each server records what it accepted, and can be told to answer like a real, struggling server
would: ``fail_next`` makes the next messages fail at DATA with the given reply (e.g. a 451),
``refuse_recipients`` refuses chosen addresses at RCPT TO. That way the notifier's
transient/permanent classification is tested against real SMTP replies.

``start_smtp_server(tls="starttls" | "implicit", credentials={...})`` starts a server that offers
STARTTLS or speaks TLS from the first byte, with a self-signed certificate for 127.0.0.1 made
here (``smtp_certificate``; clients trust it through its ``ca_file``), and that accepts AUTH
with the given credentials while recording every attempt: a test can prove that no password
was sent.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from export_pipelines_tests.services import free_port


@dataclass(frozen=True)
class ReceivedEnvelope:
    """One accepted message, as the server saw it on the wire."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    starttls: bool = False  # the session was upgraded by STARTTLS (aiosmtpd's session.ssl is set)
    encrypted: bool = False  # the message travelled over TLS, by STARTTLS or implicit TLS


@dataclass
class RecordingHandler:
    """aiosmtpd handler that stores accepted envelopes and plays back scripted failures."""

    envelopes: list[ReceivedEnvelope] = field(default_factory=list)
    fail_next: list[tuple[int, str]] = field(default_factory=list)
    refuse_recipients: dict[str, tuple[int, str]] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    auth_attempts: list[str] = field(default_factory=list)  # user names tried, in order

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        """aiosmtpd authenticator: records the attempt, accepts the configured credentials."""
        if not isinstance(auth_data, LoginPassword):
            self.auth_attempts.append(f"<{mechanism}>")
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.auth_attempts.append(user)
        return AuthResult(success=self.credentials.get(user) == password, handled=False)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_recipients:
            code, text = self.refuse_recipients[address]
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_next:
            code, text = self.fail_next.pop(0)
            return f"{code} {text}"
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.envelopes.append(
            ReceivedEnvelope(
                envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content, session.ssl is not None, encrypted
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A running server: where to connect, what it received, and its scripted failures."""

    host: str
    port: int
    handler: RecordingHandler

    @property
    def envelopes(self) -> list[ReceivedEnvelope]:
        return self.handler.envelopes

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(envelope.content, policy=policy.default) for envelope in self.envelopes]

    @property
    def auth_attempts(self) -> list[str]:
        """User names the server saw in AUTH commands; empty if no credentials were ever sent."""
        return self.handler.auth_attempts

    @property
    def fail_next(self) -> list[tuple[int, str]]:
        """Replies for the next DATA commands, in order, e.g. ``[(451, "try later")]``; consumed as used."""
        return self.handler.fail_next

    @property
    def refuse_recipients(self) -> dict[str, tuple[int, str]]:
        """RCPT TO replies by address, e.g. ``{"a@example.com": (550, "no such user")}``."""
        return self.handler.refuse_recipients

    def fail_next_messages(self, count: int, code: int = 451, text: str = "4.3.0 try again later") -> None:
        """Answer the next ``count`` messages with ``code`` (a temporary failure by default)."""
        self.fail_next.extend([(code, text)] * count)


@dataclass(frozen=True)
class Certificate:
    """A self-signed server certificate for 127.0.0.1 and localhost; ``ca_file`` is what clients trust."""

    cert_file: Path
    key_file: Path

    @property
    def ca_file(self) -> Path:
        return self.cert_file

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="session")
def smtp_certificate(tmp_path_factory) -> Certificate:
    """A fresh key and self-signed certificate, valid for a day, made with ``cryptography``."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "export-pipelines test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "server.pem", folder / "server.key")
    paths.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def start_smtp_server(smtp_certificate):
    """Start servers with extra aiosmtpd options (``auth_require_tls=False``, ``auth_required=True``...).

    ``tls="starttls"`` offers STARTTLS, ``tls="implicit"`` speaks TLS from the start (both with
    ``smtp_certificate``); ``credentials={"user": "password"}`` enables AUTH with those.
    Every server started is stopped when the test ends.
    """
    controllers: list[Controller] = []

    def start(tls: str | None = None, credentials: dict[str, str] | None = None, **controller_options) -> SmtpServer:
        handler = RecordingHandler(credentials=dict(credentials or {}))
        if credentials is not None:
            controller_options["authenticator"] = handler.authenticate
        if tls == "starttls":
            controller_options["tls_context"] = smtp_certificate.server_context()
        elif tls == "implicit":
            controller_options["ssl_context"] = smtp_certificate.server_context()
        elif tls is not None:
            raise ValueError(f"tls must be None, 'starttls' or 'implicit', not {tls!r}")
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **controller_options)
        controller.start()
        controllers.append(controller)
        return SmtpServer(controller.hostname, controller.port, handler)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(start_smtp_server) -> SmtpServer:
    """A plain SMTP server on 127.0.0.1 (no TLS, no AUTH) that records every message."""
    return start_smtp_server()
