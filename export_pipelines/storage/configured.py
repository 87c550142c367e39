"""The deployment's storage, as its environment configures it: one place that joins the backend chosen by
URL with the keyset, for the run's resource and for commands that read storage outside a run (key rotation,
the download service), and a decrypted copy of a stored file for the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

from export_pipelines.security.keyset import Keyset
from export_pipelines.security.keyset_store import keyset_from_env
from export_pipelines.settings import data_dir, default_storage_url
from export_pipelines.storage.base import Storage, storage_from_url
from export_pipelines.storage.encrypted import EncryptedStorage


def configured_backend() -> Storage:
    """$EXPORT_STORAGE_URL (a folder, file:// or s3://bucket/prefix URL), else the data folder's exports.
    It only ever holds ciphertext."""
    return storage_from_url(default_storage_url())


def configured_keyset() -> Keyset:
    """$EXPORT_ENCRYPTION_KEYSET, or the data folder's (created on first use); never from run config."""
    return keyset_from_env(data_dir=data_dir())


def configured_storage() -> EncryptedStorage:
    return EncryptedStorage(configured_backend(), configured_keyset())


def save_decrypted(file_key: str, out: Path) -> Path:
    """Decrypt a stored export into ``out`` (written under a temporary name, then renamed into place)."""
    out = out.resolve()
    partial = out.with_name(f".{out.name}.part")
    try:
        with configured_storage().open_read(file_key) as source, open(partial, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out
