"""A real SMTP server on loopback (aiosmtpd) for notifier tests: no mocked smtplib anywhere.

Each server records what it accepted, and can be told to answer like a real, struggling server
would: ``fail_next`` makes the next messages fail at DATA with the given reply (e.g. a 451),
``refuse_recipients`` refuses chosen addresses at RCPT TO. That way the notifier's
transient/permanent classification is tested against real SMTP replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from export_pipelines_tests.services import free_port


@dataclass(frozen=True)
class ReceivedEnvelope:
    """One accepted message, as the server saw it on the wire."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


@dataclass
class RecordingHandler:
    """aiosmtpd handler that stores accepted envelopes and plays back scripted failures."""

    envelopes: list[ReceivedEnvelope] = field(default_factory=list)
    fail_next: list[tuple[int, str]] = field(default_factory=list)
    refuse_recipients: dict[str, tuple[int, str]] = field(default_factory=dict)

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
        self.envelopes.append(
            ReceivedEnvelope(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content)
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


@pytest.fixture
def start_smtp_server():
    """Start servers with extra aiosmtpd options (``authenticator=...``, ``auth_require_tls=False``...).

    Every server started is stopped when the test ends.
    """
    controllers: list[Controller] = []

    def start(**controller_options) -> SmtpServer:
        handler = RecordingHandler()
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
