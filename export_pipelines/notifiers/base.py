"""The notifier interface and the payload every notifier receives.

``notify`` builds one ``ExportNotification`` from the run's results and hands it to a notifier;
a notifier knows only how to deliver, never how the export was made. New channels (webhook,
Slack) register themselves by subclassing ``Notifier`` with a ``name``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, ClassVar

_NOTIFIERS: dict[str, type[Notifier]] = {}


@dataclass(frozen=True)
class AttachmentSource:
    """The exported file, for a channel that may attach it: what it is, and how to read its plaintext.

    ``size`` and ``sha256`` are the plaintext's, as the run recorded them; ``open`` streams the file
    decrypted from storage, and is called only by a channel that decided to attach it.
    """

    file_name: str
    media_type: str
    size: int
    sha256: str
    open: Callable[[], BinaryIO] = field(compare=False, repr=False)


@dataclass(frozen=True)
class ExportNotification:
    """Everything a recipient needs to know about one finished export."""

    run_id: str
    user: str
    dataset: str
    title: str
    format: str
    recipients: tuple[str, ...]
    rows: int
    bytes: int
    file_key: str
    link: str  # the download page, <EXPORT_PUBLIC_URL>/d/<token>: never a storage path or bucket URL
    sha256: str
    finished_at: datetime
    expires_at: datetime | None = None  # when the link stops working (never after the file's own expiry)
    filters: tuple[str, ...] = field(default_factory=tuple)
    # Never the exact count of withheld rows (see withheld.py): whether there were any, and at most a band.
    rows_withheld: bool = False
    withheld_band: str | None = None
    attachment: AttachmentSource | None = None  # the file itself, when a channel may attach it
    subscription: str | None = None  # the subscription whose tick made it: the mail names it

    @property
    def is_partial(self) -> bool:
        """True when the user's grants hid some rows the filters matched."""
        return self.rows_withheld


@dataclass(frozen=True)
class FailureNotification:
    """An export that failed for good, as its requester is told: what failed, and what to do about it."""

    run_id: str
    dataset: str
    title: str
    recipients: tuple[str, ...]
    reason: str  # written for the requester (see notifiers.failure): never a traceback, secret or row value


@dataclass(frozen=True)
class DeliveryReceipt:
    """What happened to a notification, as the run records it.

    ``channel``: ``smtp`` (delivered; destination ``host:port``), ``outbox`` (filed for a later
    resend; destination the ``.eml`` file), ``none`` (nobody to tell) or ``failed`` (neither sent
    nor filed; destination where it should have gone). ``reason`` says why it was not delivered.
    """

    channel: str
    destination: str
    reason: str | None = None

    def metadata(self) -> dict[str, str]:
        facts = {"channel": self.channel, "destination": self.destination}
        return facts | ({"reason": self.reason} if self.reason else {})


class Notifier(ABC):
    """Delivers an ExportNotification; raises TransientDeliveryError when a retry may help."""

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "name", None):
            _NOTIFIERS[cls.name] = cls

    @abstractmethod
    def send(self, notification: ExportNotification) -> DeliveryReceipt:
        """Deliver the notification, or raise."""


def registered_notifiers() -> dict[str, type[Notifier]]:
    """Every notifier class by name (importing the package's modules registers them)."""
    from export_pipelines.notifiers import email  # noqa: F401

    return dict(_NOTIFIERS)
