"""Which stored files each key protects: what decides whether a key may leave the keyset.

Published files are identified by the key id recorded with them (object metadata) or, where the
backend keeps none (a folder), by which key authenticates their first segment, as Tink itself
decides. Staged files are not identified: they belong to runs in flight (or left behind by a run
that died), and a key is not removed while any exist.
"""

from __future__ import annotations

from export_pipelines.errors import PermanentExportError
from export_pipelines.security.streaming_aead import DecryptionError
from export_pipelines.storage.base import PUBLISHED_PREFIX, TRANSIENT_PREFIX
from export_pipelines.storage.encrypted import EncryptedStorage

_SHOWN = 20


class KeyStillInUse(PermanentExportError):
    """Removing this key would make stored files unreadable."""

    def __init__(self, key_id: int, files: list[str], runs: list[str]):
        lines = [f"key {key_id} is still needed and was not removed:"]
        if files:
            lines.append(f"{len(files):,} stored file(s) are encrypted with it:")
            lines += [f"  {key}" for key in files[:_SHOWN]]
            if len(files) > _SHOWN:
                lines.append(f"  ... and {len(files) - _SHOWN:,} more")
            lines.append("Wait until they expire (retention) or delete those exports, then remove the key.")
        if runs:
            lines.append(f"staged files of {len(runs):,} run(s) exist ({', '.join(runs[:_SHOWN])}):")
            lines.append("wait for those runs to end, or let the retention clean-up remove what dead runs left.")
        super().__init__("\n".join(lines))


def files_by_key(storage: EncryptedStorage) -> dict[int | None, list[str]]:
    """Published file keys grouped by the id of the key that protects them (None: no key of the keyset)."""
    usage: dict[int | None, list[str]] = {}
    for listed in storage.list(PUBLISHED_PREFIX.rstrip("/")):
        try:
            key_id = storage.key_for(listed.key).key_id
        except DecryptionError:
            key_id = None
        except FileNotFoundError:  # deleted since the listing (retention, an operator): it needs no key
            continue
        usage.setdefault(key_id, []).append(listed.key)
    return usage


def staged_runs(storage: EncryptedStorage) -> list[str]:
    """Run ids that have anything in staging."""
    runs = {listed.key.split("/")[1] for listed in storage.list(TRANSIENT_PREFIX.rstrip("/"))}
    return sorted(runs)
