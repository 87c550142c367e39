"""EmailNotifier against a real SMTP server on loopback, and its outbox on a real folder.

Failure classification is checked with real SMTP replies (a 451 at DATA, refused recipients,
a refused login) and real socket errors, because that mapping is what the retry policies rely on.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from export_pipelines.errors import PermanentExportError, TransientDeliveryError
from export_pipelines.notifiers.base import (
    AttachmentSource,
    DeliveryReceipt,
    ExportNotification,
    registered_notifiers,
)
from export_pipelines.notifiers.email import EmailNotifier, EmailSettings
from export_pipelines.notifiers.email_message import build_message, encoded_size
from export_pipelines.notifiers.smtp_delivery import NotificationRejected
from export_pipelines_tests.services import free_port

TITLE = "Bestellungen – Übersicht 李"
DATASET = "verkäufe.bestellungen"


@pytest.fixture
def notification() -> ExportNotification:
    return ExportNotification(
        run_id="3f2c9a1e-run",
        user="ana@example.com",
        dataset=DATASET,
        title=TITLE,
        format="csv",
        recipients=("ana@example.com", "bo@example.com"),
        rows=12_345,
        bytes=3 * 1024 * 1024,
        file_key="exports/3f2c9a1e-run/orders.csv",
        link="https://exports.example.com/download/abc?token=x&y=1",
        sha256="ab" * 32,
        finished_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        expires_at=datetime(2024, 5, 8, 12, 0, tzinfo=UTC),
        filters=("region = 'EU'", "year >= 2024"),
    )


def smtp_settings(server, **overrides) -> EmailSettings:
    return EmailSettings(smtp_host=server.host, smtp_port=server.port, timeout=5, **overrides)


def bodies(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_message_arrives_with_recipients_subject_text_and_html(smtp_server, notification):
    receipt = EmailNotifier(smtp_settings(smtp_server, smtp_from="exports@example.com")).send(notification)

    assert receipt == DeliveryReceipt("smtp", f"{smtp_server.host}:{smtp_server.port}")
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "exports@example.com"
    assert envelope.rcpt_tos == ("ana@example.com", "bo@example.com")
    [message] = smtp_server.messages
    assert message["Subject"] == f"Your export '{TITLE}' is ready (12,345 rows, CSV)"
    assert message["From"] == "exports@example.com"
    assert [a.addr_spec for a in message["To"].addresses] == ["ana@example.com", "bo@example.com"]
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"].datetime.tzinfo is not None
    text, html = bodies(message)
    for body in (text, html):
        assert TITLE in body and DATASET in body
        assert "CSV" in body and "12,345" in body and "3.0 MiB" in body
        assert "ab" * 32 in body and "3f2c9a1e-run" in body and "2024-05-08 12:00 UTC" in body
    assert notification.link in text and "region = 'EU'; year >= 2024" in text
    assert 'href="https://exports.example.com/download/abc?token=x&amp;y=1"' in html
    assert "region = &#x27;EU&#x27;; year &gt;= 2024" in html
    for body in (text, html):
        assert "partial" not in body.lower() and "withheld" not in body.lower()


def test_wire_format_is_7bit_even_with_non_ascii_title(smtp_server, notification):
    EmailNotifier(smtp_settings(smtp_server)).send(notification)

    smtp_server.envelopes[0].content.decode("ascii")  # raises if any 8-bit byte went over the wire


def test_partial_export_is_announced_in_subject_and_bodies_without_a_count(smtp_server, notification):
    EmailNotifier(smtp_settings(smtp_server)).send(replace(notification, rows_withheld=True))

    [message] = smtp_server.messages
    assert message["Subject"] == f"Your partial export '{TITLE}' is ready (12,345 rows, CSV, some rows withheld)"
    for body in bodies(message):
        assert "partial export" in body
        assert "some rows matched your filters but were withheld because your permissions" in body


def test_a_coarse_band_is_all_a_partial_export_tells(smtp_server, notification):
    EmailNotifier(smtp_settings(smtp_server)).send(replace(notification, rows_withheld=True, withheld_band="10–99"))

    [message] = smtp_server.messages
    assert message["Subject"] == f"Your partial export '{TITLE}' is ready (12,345 rows, CSV, 10–99 withheld)"
    text, html = bodies(message)
    assert "10–99 rows matched your filters but were withheld" in text
    assert "Rows withheld:" in text and "10–99" in html


def test_user_text_is_escaped_in_html_and_kept_off_header_lines(smtp_server, notification):
    title = '<script>alert("x")</script> & co\nBcc: victim@example.com'
    EmailNotifier(smtp_settings(smtp_server)).send(replace(notification, title=title))

    [message] = smtp_server.messages
    assert message["Bcc"] is None
    assert "Bcc: victim@example.com" in message["Subject"]  # folded into the subject, not a header
    _, html = bodies(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html


def test_outbox_mode_writes_a_parseable_eml_with_the_same_content(tmp_path, smtp_server, notification):
    outbox = tmp_path / "outbox"
    receipt = EmailNotifier(EmailSettings(outbox_dir=outbox)).send(replace(notification, rows_withheld=True))
    EmailNotifier(smtp_settings(smtp_server)).send(replace(notification, rows_withheld=True))

    assert receipt.channel == "outbox"
    path = Path(receipt.destination)
    assert [p.name for p in outbox.iterdir()] == [path.name]  # no .tmp left behind
    assert re.fullmatch(r"\d{8}T\d{12}Z-3f2c9a1e-run\.eml", path.name)
    filed = message_from_bytes(path.read_bytes(), policy=policy.default)
    sent = smtp_server.messages[0]
    assert filed["Subject"] == sent["Subject"] and "partial" in filed["Subject"]
    assert filed["To"] == sent["To"] and filed["Message-ID"]
    assert bodies(filed) == bodies(sent)
    assert b"\r\n" in path.read_bytes()  # SMTP line endings: the file can be sent as it is


def test_the_outbox_is_private_and_holds_the_link_never_the_file(tmp_path, smtp_server, notification):
    outbox = tmp_path / "var" / "outbox"
    settings = EmailSettings(smtp_host=smtp_server.host, smtp_port=free_port(), outbox_dir=outbox, timeout=5)
    exported = with_file(notification, b"id,secret\n1,salary\n")

    filed = [EmailNotifier(EmailSettings(outbox_dir=outbox)).send(exported),
             EmailNotifier(settings).write_to_outbox(exported)]  # fmt: skip

    assert outbox.stat().st_mode & 0o777 == 0o700
    for receipt in filed:
        path = Path(receipt.destination)
        assert path.stat().st_mode & 0o777 == 0o600
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert attachments(message) == [] and b"salary" not in path.read_bytes()
        assert notification.link in bodies(message)[0]


def test_an_outbox_folder_made_before_is_made_private(tmp_path, notification):
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o755)
    os.chmod(outbox, 0o755)

    EmailNotifier(EmailSettings(outbox_dir=outbox)).send(notification)

    assert outbox.stat().st_mode & 0o777 == 0o700


def test_write_to_outbox_is_a_fallback_even_when_smtp_is_configured(tmp_path, notification):
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=free_port(), outbox_dir=tmp_path)
    receipt = EmailNotifier(settings).write_to_outbox(notification)

    assert receipt == DeliveryReceipt("outbox", str(next(tmp_path.glob("*.eml"))))


def test_run_id_cannot_escape_the_outbox(tmp_path, notification):
    receipt = EmailNotifier(EmailSettings(outbox_dir=tmp_path)).send(replace(notification, run_id="../../x"))

    assert Path(receipt.destination).parent == tmp_path


def test_no_recipients_contacts_nobody_and_writes_nothing(tmp_path, notification):
    # Nothing listens on this port: a connection attempt would raise.
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=free_port(), outbox_dir=tmp_path / "o")
    receipt = EmailNotifier(settings).send(replace(notification, recipients=()))

    assert receipt == DeliveryReceipt("none", "")
    assert not (tmp_path / "o").exists()


def test_4xx_at_data_is_transient_and_a_retry_delivers(smtp_server, notification):
    smtp_server.fail_next_messages(1, 451, "4.3.0 try later")
    notifier = EmailNotifier(smtp_settings(smtp_server))

    with pytest.raises(TransientDeliveryError, match="451"):
        notifier.send(notification)
    assert smtp_server.envelopes == []
    notifier.send(notification)
    assert len(smtp_server.envelopes) == 1


def test_5xx_at_data_is_permanent(smtp_server, notification):
    smtp_server.fail_next.append((554, "5.7.1 message refused"))

    with pytest.raises(NotificationRejected, match="554") as caught:
        EmailNotifier(smtp_settings(smtp_server)).send(notification)
    assert isinstance(caught.value, PermanentExportError)


def test_all_recipients_deferred_is_transient(smtp_server, notification):
    smtp_server.refuse_recipients.update({r: (450, "4.2.1 mailbox busy") for r in notification.recipients})

    with pytest.raises(TransientDeliveryError, match="mailbox busy"):
        EmailNotifier(smtp_settings(smtp_server)).send(notification)


def test_a_permanently_refused_recipient_among_all_refused_is_permanent(smtp_server, notification):
    smtp_server.refuse_recipients.update(
        {"ana@example.com": (450, "4.2.1 busy"), "bo@example.com": (550, "5.1.1 no such user")}
    )

    with pytest.raises(NotificationRejected, match="no such user"):
        EmailNotifier(smtp_settings(smtp_server)).send(notification)


def test_some_recipients_refused_still_delivers_to_the_others(smtp_server, notification, caplog):
    smtp_server.refuse_recipients["bo@example.com"] = (550, "5.1.1 no such user")

    receipt = EmailNotifier(smtp_settings(smtp_server)).send(notification)

    assert receipt.channel == "smtp"
    assert smtp_server.envelopes[0].rcpt_tos == ("ana@example.com",)
    assert "bo@example.com: 550" in caplog.text


def test_nothing_listening_is_transient(notification):
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=free_port(), timeout=5)

    with pytest.raises(TransientDeliveryError, match="ConnectionRefusedError"):
        EmailNotifier(settings).send(notification)


def test_silent_server_times_out_as_transient(notification):
    with socket.socket() as listener:  # accepts the connection (backlog) but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=listener.getsockname()[1], timeout=0.3)
        with pytest.raises(TransientDeliveryError, match="timed out"):
            EmailNotifier(settings).send(notification)


CREDENTIALS = {"exports": "s3cret"}


def test_starttls_is_used_whenever_offered_and_the_certificate_is_verified(start_smtp_server, smtp_certificate,
                                                                          notification):
    server = start_smtp_server(tls="starttls")

    # SMTP_STARTTLS is not set: the server's offer is enough.
    EmailNotifier(smtp_settings(server, smtp_ca_file=smtp_certificate.ca_file)).send(notification)

    [envelope] = server.envelopes
    assert envelope.starttls and envelope.encrypted
    assert server.messages[0]["Subject"].startswith("Your export")


def test_an_offered_starttls_with_an_untrusted_certificate_is_refused_not_skipped(start_smtp_server, notification):
    server = start_smtp_server(tls="starttls")

    with pytest.raises(NotificationRejected, match="certificate"):
        EmailNotifier(smtp_settings(server)).send(notification)  # no SMTP_CA_FILE: the system store only
    assert server.envelopes == []


def test_implicit_tls_when_asked(start_smtp_server, smtp_certificate, notification):
    server = start_smtp_server(tls="implicit", credentials=CREDENTIALS, auth_require_tls=False)
    settings = smtp_settings(server, smtp_tls="implicit", smtp_ca_file=smtp_certificate.ca_file,
                             smtp_user="exports", smtp_password="s3cret")

    EmailNotifier(settings).send(notification)

    [envelope] = server.envelopes
    assert envelope.encrypted and not envelope.starttls
    assert server.auth_attempts == ["exports"]


def test_login_after_starttls_then_delivery(start_smtp_server, smtp_certificate, notification):
    server = start_smtp_server(tls="starttls", credentials=CREDENTIALS, auth_required=True)
    settings = smtp_settings(server, smtp_ca_file=smtp_certificate.ca_file, smtp_user="exports", smtp_password="s3cret")

    EmailNotifier(settings).send(notification)

    assert server.auth_attempts == ["exports"]
    assert len(server.envelopes) == 1 and server.envelopes[0].starttls


def test_refused_login_is_permanent(start_smtp_server, smtp_certificate, notification):
    server = start_smtp_server(tls="starttls", credentials=CREDENTIALS)
    settings = smtp_settings(server, smtp_ca_file=smtp_certificate.ca_file, smtp_user="exports", smtp_password="wrong")

    with pytest.raises(NotificationRejected, match="SMTP_USER and SMTP_PASSWORD") as caught:
        EmailNotifier(settings).send(notification)
    assert "wrong" not in str(caught.value)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_are_never_sent_over_a_connection_without_tls(start_smtp_server, notification):
    # The server would take the password in clear (it advertises AUTH without TLS): the notifier must not.
    server = start_smtp_server(credentials=CREDENTIALS, auth_require_tls=False, auth_required=True)

    with pytest.raises(NotificationRejected, match="not encrypted") as caught:
        EmailNotifier(smtp_settings(server, smtp_user="exports", smtp_password="s3cret")).send(notification)

    assert isinstance(caught.value, PermanentExportError)
    assert "SMTP_USER" in str(caught.value) and "s3cret" not in str(caught.value)
    assert server.auth_attempts == []
    assert server.envelopes == []


def test_a_missing_ca_file_is_a_configuration_error(smtp_server, tmp_path, notification):
    settings = smtp_settings(smtp_server, smtp_ca_file=tmp_path / "missing.pem")

    with pytest.raises(NotificationRejected, match="SMTP_CA_FILE"):
        EmailNotifier(settings).send(notification)


def test_starttls_required_but_not_offered_is_permanent(smtp_server, notification):
    with pytest.raises(NotificationRejected, match="STARTTLS"):
        EmailNotifier(smtp_settings(smtp_server, smtp_starttls=True)).send(notification)


def test_from_env_reads_every_variable():
    settings = EmailSettings.from_env(
        {
            "SMTP_HOST": "mail.example.com",
            "SMTP_PORT": "2525",
            "SMTP_STARTTLS": "TRUE",
            "SMTP_CA_FILE": "/etc/exports/ca.pem",
            "SMTP_USER": "exports",
            "SMTP_PASSWORD": " pass word ",
            "SMTP_FROM": "Exports <exports@example.com>",
            "EXPORT_OUTBOX_DIR": "/srv/outbox",
        }
    )

    assert settings == EmailSettings(
        smtp_host="mail.example.com",
        smtp_port=2525,
        smtp_starttls=True,
        smtp_tls="starttls",
        smtp_ca_file=Path("/etc/exports/ca.pem"),
        smtp_user="exports",
        smtp_password=" pass word ",
        smtp_from="Exports <exports@example.com>",
        outbox_dir=Path("/srv/outbox"),
    )
    assert "pass word" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "port", "starttls", "tls"),
    [
        ({}, 25, False, "auto"),
        ({"SMTP_STARTTLS": "1"}, 587, True, "starttls"),
        ({"SMTP_STARTTLS": "0", "SMTP_PORT": ""}, 25, False, "auto"),
        ({"SMTP_TLS": "starttls"}, 587, True, "starttls"),
        ({"SMTP_TLS": "Implicit"}, 465, False, "implicit"),
        ({"SMTP_PORT": "465"}, 465, False, "implicit"),
        ({"SMTP_TLS": "auto", "SMTP_PORT": "2465"}, 2465, False, "auto"),
    ],
)
def test_from_env_defaults(environ, port, starttls, tls):
    settings = EmailSettings.from_env({"SMTP_HOST": "", **environ})

    assert settings.smtp_host is None  # empty means outbox mode
    assert (settings.smtp_port, settings.smtp_starttls, settings.smtp_tls) == (port, starttls, tls)
    assert settings.smtp_ca_file is None
    assert settings.smtp_from == "exports@localhost"
    assert settings.outbox_dir == Path("var/outbox")
    assert settings.timeout == 30


@pytest.mark.parametrize(
    ("name", "value"), [("SMTP_STARTTLS", "maybe"), ("SMTP_PORT", "smtp"), ("SMTP_PORT", "0"), ("SMTP_TLS", "ssl")]
)
def test_from_env_rejects_nonsense(name, value):
    with pytest.raises(ValueError, match=name):
        EmailSettings.from_env({name: value})


def test_from_env_refuses_starttls_and_implicit_tls_together():
    with pytest.raises(ValueError, match="SMTP_STARTTLS.*SMTP_TLS=implicit"):
        EmailSettings.from_env({"SMTP_STARTTLS": "true", "SMTP_TLS": "implicit"})


def test_email_notifier_registers_itself():
    assert registered_notifiers()["email"] is EmailNotifier


def test_expiry_is_shown_in_utc_and_naive_datetimes_count_as_utc(tmp_path, notification):
    berlin_summer = timezone(timedelta(hours=2))
    for expires_at in (datetime(2024, 5, 8, 12, 0), datetime(2024, 5, 8, 14, 0, tzinfo=berlin_summer)):
        path = EmailNotifier(EmailSettings(outbox_dir=tmp_path)).send(
            replace(notification, expires_at=expires_at)
        )
        text, _ = bodies(message_from_bytes(Path(path.destination).read_bytes(), policy=policy.default))
        assert "2024-05-08 12:00 UTC" in text


def test_the_smallest_band_reads_as_a_sentence(tmp_path, notification):
    partial = replace(notification, rows_withheld=True, withheld_band="fewer than 10")
    receipt = EmailNotifier(EmailSettings(outbox_dir=tmp_path)).send(partial)

    text, _ = bodies(message_from_bytes(Path(receipt.destination).read_bytes(), policy=policy.default))
    assert "This is a partial export: fewer than 10 rows matched your filters but were withheld" in " ".join(
        text.split()
    )


@pytest.mark.parametrize("recipient", ["a@example.com,evil@example.net", "Evil <a@example.com>", "a@x.com\r\nBcc: b@y"])
def test_anything_but_plain_addresses_is_refused_before_sending(tmp_path, smtp_server, notification, recipient):
    notification = replace(notification, recipients=("ana@example.com", recipient))

    for settings in (smtp_settings(smtp_server), EmailSettings(outbox_dir=tmp_path / "outbox")):
        with pytest.raises(NotificationRejected, match=r"recipients\[1\]"):
            EmailNotifier(settings).send(notification)
    assert smtp_server.envelopes == []
    assert not (tmp_path / "outbox").exists()


def test_implicit_tls_against_a_plain_server_is_a_configuration_error(smtp_server, notification):
    with pytest.raises(NotificationRejected, match="TLS handshake failed.*SMTP_TLS"):
        EmailNotifier(smtp_settings(smtp_server, smtp_tls="implicit")).send(notification)
    assert smtp_server.envelopes == []


def test_the_mail_gives_the_download_link_and_until_when_it_works(tmp_path, notification):
    receipt = EmailNotifier(EmailSettings(outbox_dir=tmp_path)).send(notification)

    text, html = bodies(message_from_bytes(Path(receipt.destination).read_bytes(), policy=policy.default))
    flat = " ".join(text.split())
    assert "download it from the link below until 2024-05-08 12:00 UTC" in flat
    assert "Link expires: 2024-05-08 12:00 UTC" in flat
    assert f"Download: {notification.link}" in flat
    assert 'href="https://exports.example.com/download/abc?token=x&amp;y=1"' in html


def test_every_user_value_is_escaped_in_html_and_cannot_forge_a_line_of_the_text(tmp_path, notification):
    title = "<script>alert(1)</script> & co"
    forged = "note = '<b>&amp;</b>'\nDownload: https://evil.example/x\u2028SHA-256: 00"
    receipt = EmailNotifier(EmailSettings(outbox_dir=tmp_path)).send(
        replace(notification, title=title, filters=(forged,), dataset="a<b>&c", rows_withheld=True)
    )

    text, html = bodies(message_from_bytes(Path(receipt.destination).read_bytes(), policy=policy.default))
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "note = &#x27;&lt;b&gt;&amp;amp;&lt;/b&gt;&#x27;" in html and "a&lt;b&gt;&amp;c" in html
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("Download:")] == [f"Download:      {notification.link}"]
    assert [line for line in lines if line.startswith("SHA-256:")] == [f"SHA-256:       {notification.sha256}"]
    assert title in text and "Rows withheld: yes, because of your permissions" in text


def with_file(notification: ExportNotification, data: bytes, name: str = "orders.csv", sha256: str | None = None):
    checksum = sha256 or hashlib.sha256(data).hexdigest()
    source = AttachmentSource(name, "text/csv", len(data), checksum, lambda: io.BytesIO(data))
    return replace(notification, attachment=source, bytes=len(data))


def attachments(message) -> list:
    return list(message.iter_attachments())


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1000, 100_003])
def test_encoded_size_is_what_the_attachment_takes_on_the_wire(notification, size):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    message = build_message(with_file(notification, data), "a@b.c", 10**9)

    [part] = attachments(message)
    payload = part.get_payload()  # base64 text with \n line ends; the wire has \r\n
    assert len(payload) + payload.count("\n") == encoded_size(size)


def test_the_limit_counts_base64_growth_not_the_raw_size(smtp_server, notification):
    data = os.urandom(30_000)

    def sent(limit: int):
        EmailNotifier(smtp_settings(smtp_server, attach_max_bytes=limit)).send(with_file(notification, data))
        return smtp_server.messages[-1]

    assert len(data) < len(data) + 1 < encoded_size(len(data)) - 1
    for limit in (len(data) + 1, encoded_size(len(data)) - 1, 0):
        message = sent(limit)
        assert attachments(message) == [] and "attach" not in str(message).lower(), limit
    [part] = attachments(sent(encoded_size(len(data))))
    assert part.get_payload(decode=True) == data


def test_a_file_that_is_not_the_recorded_one_is_not_attached_nor_mentioned(smtp_server, notification):
    EmailNotifier(smtp_settings(smtp_server)).send(with_file(notification, b"a,b\n", sha256="0" * 64))

    [message] = smtp_server.messages
    assert attachments(message) == [] and "attach" not in str(message).lower()


def test_the_attachment_has_its_content_type_and_an_rfc_2231_file_name(smtp_server, notification):
    name = "Übersicht 李 \"Q4\".csv"
    EmailNotifier(smtp_settings(smtp_server)).send(with_file(notification, b"id,name\n1,a\n", name=name))

    [message] = smtp_server.messages
    [part] = attachments(message)
    assert part.get_content_type() == "text/csv" and part.get_filename() == name
    assert "filename*=utf-8''" in smtp_server.envelopes[0].content.decode("ascii")  # 7-bit on the wire
    assert part.get_payload(decode=True) == b"id,name\n1,a\n"
    text, _ = bodies(message)
    assert f"The file is attached to this email ({name})." in " ".join(text.split())


def test_attach_max_bytes_from_env():
    assert EmailSettings.from_env({}).attach_max_bytes == 5 * 1024 * 1024
    assert EmailSettings.from_env({"EXPORT_EMAIL_ATTACH_MAX_BYTES": "0"}).attach_max_bytes == 0
    assert EmailSettings.from_env({"EXPORT_EMAIL_ATTACH_MAX_BYTES": "1000"}).attach_max_bytes == 1000
    with pytest.raises(ValueError, match="EXPORT_EMAIL_ATTACH_MAX_BYTES"):
        EmailSettings.from_env({"EXPORT_EMAIL_ATTACH_MAX_BYTES": "5MB"})
    assert EmailSettings.outbox_only_from_env({"EXPORT_EMAIL_ATTACH_MAX_BYTES": "-1"}).attach_max_bytes == 0
