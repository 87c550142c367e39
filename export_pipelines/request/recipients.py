"""Who may be told about an export: one plain address per recipient, in an allowed domain.

A recipient field is typed by a requester and ends up in SMTP envelopes and a ``To:`` header, so
a loose check (``something@something``) lets ``a@x.com,evil@y.com`` through as one "address" that
the mail server then reads as two. Every recipient is therefore parsed with the standard
library's RFC 5322 parser and must be exactly one bare ``local@domain``, written the way the
parser writes it back: no display name (``Name <a@x.com>``), no comment, no group syntax, no list
separators, no line breaks.

Decisions the parser leaves open:

- Addresses are ASCII. Non-ASCII local parts need SMTPUTF8, which many servers lack;
  internationalised domains are accepted in their ``xn--`` form.
- The domain is a host name (letters, digits, hyphens, dots); domain literals such as
  ``[10.0.0.1]`` are refused, because they bypass a domain allow-list.
- ``$EXPORT_RECIPIENT_DOMAINS`` is a comma-separated allow-list; unset or empty allows any
  domain. ``example.com`` allows exactly that domain; ``.example.com`` allows its subdomains
  (``eu.example.com``, ``a.b.example.com``) but not ``example.com`` itself: list both to allow
  both. Matching ignores case.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from email.headerregistry import Address

from export_pipelines.errors import ExportRequestError, SettingsError
from export_pipelines.request.limits import MAX_RECIPIENTS_ENV, Limits

RECIPIENT_DOMAINS_ENV = "EXPORT_RECIPIENT_DOMAINS"
MAX_ADDRESS_LENGTH = 254  # RFC 5321's limit on a forward path, less the angle brackets
PLAIN_ADDRESS = "one plain address such as ana@example.com, without a name, comment or separator"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_FORBIDDEN = re.compile(r"[,;<>()\[\]:\"\\\s\x00-\x1f\x7f]")  # separators, names, comments, groups, breaks


class AddressError(ValueError):
    """The text is not exactly one plain email address; the message says what is wrong with it."""


def plain_address(text: object) -> str:
    """Return ``text`` if it is exactly one plain ``local@domain`` address, else raise AddressError."""
    if not isinstance(text, str):
        raise AddressError(f"{text!r} is not text")
    if not text.isascii():
        raise AddressError(f"{text!r} contains non-ASCII characters (write a domain in its xn-- form)")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise AddressError(f"the address is {len(text)} characters long, over {MAX_ADDRESS_LENGTH}")
    # Checked before parsing: quoted local parts may legally hold these, but nobody needs them,
    # and refusing them outright keeps every list trick (a,b  a;b  "x,y"@z  group: a;) out.
    forbidden = _FORBIDDEN.search(text)
    if forbidden:
        raise AddressError(f"{text!r} contains {forbidden.group()!r}, so it is not one plain address")
    try:
        address = Address(addr_spec=text)
    except Exception:  # the parser raises ValueError, HeaderParseError, defects, even IndexError
        raise AddressError(f"{text!r} is not an email address") from None
    if address.addr_spec != text or not address.username:
        raise AddressError(f"{text!r} is not written as one plain address")
    domain = address.domain.lower()
    if not all(_LABEL.match(label) for label in domain.split(".")):
        raise AddressError(f"{text!r} does not end in a host name such as example.com")
    return text


def allowed_domains(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The allow-list from ``$EXPORT_RECIPIENT_DOMAINS``, lower-cased; empty means any domain."""
    entries = tuple(e.strip().lower() for e in environ.get(RECIPIENT_DOMAINS_ENV, "").split(",") if e.strip())
    for entry in entries:
        if not all(_LABEL.match(label) for label in entry.removeprefix(".").split(".")):
            raise SettingsError(
                f"{RECIPIENT_DOMAINS_ENV}: {entry!r} is not a domain (write example.com, or .example.com for its "
                "subdomains)"
            )
    return entries


def domain_allowed(domain: str, allowed: Sequence[str]) -> bool:
    """True if ``domain`` is listed, or is a subdomain of a ``.parent`` entry; any domain if none are listed."""
    domain = domain.lower()
    return not allowed or any(domain.endswith(e) if e.startswith(".") else domain == e for e in allowed)


def check_recipients(recipients: Sequence[object], environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Check a request's recipients against the parser, the domain allow-list and the cap.

    Raises ExportRequestError naming ``recipients`` (too many) or ``recipients[i]`` (that one).
    """
    cap = Limits.from_env(environ).max_recipients
    if len(recipients) > cap:
        raise ExportRequestError(
            "recipients",
            f"{len(recipients)} recipients is over the limit of {cap}",
            f"at most {cap} addresses; an administrator can change {MAX_RECIPIENTS_ENV}",
        )
    allowed = allowed_domains(environ)
    checked = []
    for index, text in enumerate(recipients):
        field = f"recipients[{index}]"
        try:
            address = plain_address(text)
        except AddressError as error:
            raise ExportRequestError(field, str(error), PLAIN_ADDRESS) from None
        domain = address.rpartition("@")[2]
        if not domain_allowed(domain, allowed):
            raise ExportRequestError(
                field,
                f"{address!r} is in domain {domain!r}, which may not receive exports",
                "addresses in " + ", ".join(f"any subdomain of {e[1:]}" if e.startswith(".") else e for e in allowed),
            )
        checked.append(address)
    return tuple(checked)
