"""The export notification as a message: subject, plain-text body and an HTML alternative of the same facts.

The message links to the download page (``<EXPORT_PUBLIC_URL>/d/<token>``, see ``delivery.links``) and says
until when the link works; never a storage path or bucket URL. Every value may come from a user (titles,
filters, even the dataset name): the HTML escapes each one, the plain text and header lines carry none of
its line breaks or other control characters, so no value can forge a line such as ``Download: <elsewhere>``.

The file itself is attached, decrypted, when it is small enough: when its base64 form (4/3 of its size plus
a line break every 76 characters) takes at most ``attach_max_bytes``, and when it reads back whole, with
the size and SHA-256 the run recorded. The text says "attached" only when it is; a file too large, or one
that cannot be read, is left to the link.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from export_pipelines.notifiers.base import AttachmentSource, ExportNotification, FailureNotification

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 20
# The email package's base64 lines: 57 bytes become 76 characters and a CRLF.
_BYTES_PER_LINE = 57


def build_message(notification: ExportNotification, sender: str, attach_max_bytes: int = 0) -> EmailMessage:
    """The message as sent or filed: a plain-text body with an HTML alternative of the same facts.

    With ``attach_max_bytes`` above 0, the file is attached when its encoded form fits (see the module).
    """
    n = notification
    attached = _attachment(n.attachment, attach_max_bytes)
    kind = "partial export" if n.is_partial else "export"
    withheld = f", {n.withheld_band or 'some rows'} withheld" if n.is_partial else ""
    subject_title = " ".join(_one_line(n.title).split())  # a line break in a header is an error (or an injection)
    subject = f"Your {kind} '{subject_title}' is ready ({_rows(n.rows)}, {n.format.upper()}{withheld})"
    if n.subscription:
        subject += f" - subscription {' '.join(_one_line(n.subscription).split())}"
    message = _headers(subject, n.recipients, sender)

    until = f" until {_utc(n.expires_at)}" if n.expires_at is not None else ""
    paragraphs = [f"Your {kind} '{_one_line(n.title)}' is ready: download it from the link below{until}."]
    if n.is_partial:
        # Never the exact count: with filters, it would tell the user about rows they may not see.
        which = f"{n.withheld_band} rows" if n.withheld_band else "some rows"
        paragraphs.append(
            f"This is a partial export: {which} matched your filters but were withheld because your "
            "permissions do not cover them. Ask the dataset owner for access if you need them."
        )
    if n.subscription:
        paragraphs.append(
            f"Sent by your subscription '{_one_line(n.subscription)}': pause, change or delete it on the "
            "Subscriptions page."
        )
    if attached is not None:
        paragraphs.append(f"The file is attached to this email ({_one_line(n.attachment.file_name)}).")
    facts = _facts(n)
    # Quoted-printable keeps the message 7-bit, so non-ASCII titles survive servers without 8BITMIME.
    message.set_content(_text_body(paragraphs, facts), cte="quoted-printable")
    message.add_alternative(_html_body(paragraphs, facts), subtype="html", cte="quoted-printable")
    if attached is not None:
        maintype, _, subtype = n.attachment.media_type.partition(";")[0].strip().partition("/")
        # The policy writes a non-ASCII file name the RFC 2231 way (filename*=utf-8''...).
        message.add_attachment(attached, maintype, subtype, filename=_one_line(n.attachment.file_name))
    return message


def build_failure_message(notice: FailureNotification, sender: str) -> EmailMessage:
    """A short message: which export failed, why, and what to do (the reason says both)."""
    dataset = " ".join(_one_line(notice.dataset).split())
    message = _headers(f"Your export of {dataset} failed", notice.recipients, sender)
    paragraphs = [
        f"Your export of {_one_line(notice.dataset)} ('{_one_line(notice.title)}') failed: {_one_line(notice.reason)}",
        f"Run ID: {_one_line(notice.run_id)} (quote it if you ask for help).",
    ]
    message.set_content("\n\n".join(paragraphs) + "\n", cte="quoted-printable")
    body = "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
    message.add_alternative(f"<html><body>{body}</body></html>\n", subtype="html", cte="quoted-printable")
    return message


def _headers(subject: str, recipients: tuple[str, ...], sender: str) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.now(UTC))
    # An explicit domain: without one make_msgid asks DNS for this host's FQDN, which can hang.
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost")
    return message


def encoded_size(size: int) -> int:
    """Bytes a file of ``size`` bytes takes in the message as base64: 4/3 of it, and a CRLF per 76 characters."""
    return 4 * -(-size // 3) + 2 * -(-size // _BYTES_PER_LINE)


def _attachment(source: AttachmentSource | None, limit: int) -> bytes | None:
    """The file's plaintext when it may be attached, else None (too large, not readable, not what was recorded)."""
    if source is None or limit <= 0 or encoded_size(source.size) > limit:
        return None
    checksum, parts, read = hashlib.sha256(), [], 0
    try:
        with source.open() as stream:
            while read <= source.size:  # one byte past the recorded size is enough to know it is not the file
                part = stream.read(min(_READ_SIZE, source.size + 1 - read))
                if not part:
                    break
                checksum.update(part)
                parts.append(part)
                read += len(part)
    except Exception as error:  # the link still works: a mail without the file beats no mail
        log.warning("Not attaching %s: it could not be read (%s)", source.file_name, type(error).__name__)
        return None
    if read != source.size or checksum.hexdigest() != source.sha256:
        log.warning("Not attaching %s: it does not match the size and SHA-256 the run recorded", source.file_name)
        return None
    return b"".join(parts)


_CHECKSUM_HINT = "Check the SHA-256 checksum after downloading to be sure the file arrived intact."


def _text_body(paragraphs: list[str], facts: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in facts) + 1
    table = "\n".join(f"{label + ':':<{width}} {_one_line(value)}" for label, value in facts)
    return "\n\n".join([*paragraphs, table, _CHECKSUM_HINT]) + "\n"


def _html_body(paragraphs: list[str], facts: list[tuple[str, str]]) -> str:
    esc = html.escape  # every value may come from a user: titles, filters, even the dataset name
    rows = "".join(
        f'<tr><th align="left">{esc(label)}</th><td>'
        + (f'<a href="{esc(value)}">{esc(value)}</a>' if label == "Download" else esc(value))
        + "</td></tr>"
        for label, value in facts
    )
    text = "".join(f"<p>{esc(paragraph)}</p>" for paragraph in paragraphs)
    return f"<html><body>{text}<table>{rows}</table><p>{esc(_CHECKSUM_HINT)}</p></body></html>\n"


def _facts(n: ExportNotification) -> list[tuple[str, str]]:
    facts = [
        ("Dataset", n.dataset),
        ("Title", n.title),
        ("Format", n.format.upper()),
        ("Rows", f"{n.rows:,}"),
    ]
    if n.is_partial:
        facts.append(("Rows withheld", f"{n.withheld_band or 'yes'}, because of your permissions"))
    facts += [
        ("Size", human_size(n.bytes)),
        ("Filters", "; ".join(n.filters) or "none"),
        ("Requested by", n.user),
        *([("Subscription", n.subscription)] if n.subscription else []),
        ("Download", n.link),
        ("SHA-256", n.sha256),
        ("Run ID", n.run_id),
    ]
    if n.expires_at is not None:
        facts.append(("Link expires", _utc(n.expires_at)))
    return facts


def _utc(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # naive datetimes count as UTC
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# Line breaks (\r, \n, \v, \f, NEL, LS, PS) and other control characters: the plain text's "escaping".
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(value: str) -> str:
    return _CONTROL.sub(" ", value)


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def human_size(size: int) -> str:
    """A size as the mail and the export's page write it: binary units (KiB, MiB), one decimal."""
    if size < 1024:
        return f"{size} byte" + ("" if size == 1 else "s")
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
