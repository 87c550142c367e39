"""Where the deployment's encryption keyset is kept: a file, KMS-wrapped or not, cached per file version.

A deployment supplies its keyset through ``EXPORT_ENCRYPTION_KEYSET``, wrapped by an AWS KMS key when
``EXPORT_ENCRYPTION_KEYSET_KMS_KEY`` is set (Tink's encrypted JSON keyset, see ``security.kms``); without
either a development keyset is created under the data folder on first use, with a warning, so that a
fresh checkout just works. The keyset's own format is ``keyset``'s.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from export_pipelines.security import kms
from export_pipelines.security.key_files import ParsedKeyFiles, create_once
from export_pipelines.security.keyset import Keyset, KeysetError
from export_pipelines.security.kms import KMS_KEY_ENV, KmsError, KmsUnavailable
from export_pipelines.security.private_files import write_private

logger = logging.getLogger(__name__)

KEYSET_ENV = "EXPORT_ENCRYPTION_KEYSET"

_files: ParsedKeyFiles[Keyset] = ParsedKeyFiles("keyset file", KeysetError)


def load_keyset(path: Path | str, kms_key: str | None = None, *, environ: Mapping[str, str] = os.environ) -> Keyset:
    """The keyset in ``path``, unwrapped with ``kms_key`` when given; parsed (and KMS called) once per file version.

    A file version is its path, inode, size and mtime, per process and KMS key.
    """
    path = Path(path)

    def parse(text: str) -> Keyset:
        if kms_key and not kms.is_wrapped(text):
            raise KeysetError(f"{path} is a cleartext keyset, not one wrapped by KMS key {kms_key}")
        if not kms_key and kms.is_wrapped(text):
            raise KeysetError(f"{path} is a KMS-wrapped keyset: set {KMS_KEY_ENV} to the KMS key that wraps it")
        if kms_key:
            text = kms.unwrap_json(text, kms.kms_aead(kms_key, environ), str(path))
        return Keyset.from_json(text, str(path))

    return _files.load(path, parse, variant=kms_key)


def save_keyset(
    keyset: Keyset,
    path: Path | str,
    kms_key: str | None = None,
    *,
    new: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Write ``keyset`` to ``path`` atomically (temporary file, then rename), mode 0600, folder 0700.

    With ``kms_key`` the file is Tink's encrypted JSON keyset, wrapped by that KMS key. With ``new``
    an existing file is never replaced, even by a racing writer (KeysetError instead).
    """
    path = Path(path)
    text = kms.wrap_json(keyset.to_json(), kms.kms_aead(kms_key, environ)) if kms_key else keyset.to_json()
    if not write_private(path, text, new=new):
        raise KeysetError(f"{path} exists already: use 'keys rotate' to add a key to it")


def default_keyset_path(data_dir: Path) -> Path:
    return Path(data_dir) / "keys" / "keyset.json"


def keyset_from_env(environ: Mapping[str, str] = os.environ, *, data_dir: Path) -> Keyset:
    """The deployment's keyset (``EXPORT_ENCRYPTION_KEYSET``, KMS-wrapped when ``EXPORT_ENCRYPTION_KEYSET_KMS_KEY``
    is set), else the development keyset under ``data_dir``, created on first use.

    A KMS-wrapped keyset is never created here: without its file (``$EXPORT_ENCRYPTION_KEYSET`` or the
    data folder's) this fails, rather than quietly encrypt with a key nobody backed up.
    """
    configured = environ.get(KEYSET_ENV)
    kms_key = environ.get(KMS_KEY_ENV, "").strip() or None
    if configured or kms_key:
        path = configured or default_keyset_path(data_dir)
        setting = f"{KEYSET_ENV} is set to {configured}" if configured else f"{KEYSET_ENV} is not set"
        if kms_key:
            setting += f" and {KMS_KEY_ENV} to {kms_key}"
        try:
            return load_keyset(path, kms_key, environ=environ)
        except KmsUnavailable as error:
            raise KmsUnavailable(f"{setting}: {error}") from None
        except (KeysetError, KmsError) as error:
            hint = (
                f"Point {KEYSET_ENV} at the deployment's Tink encrypted JSON keyset, wrapped by that key (made with"
                " 'export-pipelines keys generate --kms-key KEY' or tinkey --master-key-uri)"
                if kms_key
                else "Point it at the deployment's Tink JSON keyset file, readable by this process"
            )
            raise KeysetError(f"{setting}, but {error}. {hint}") from None
    path = default_keyset_path(data_dir)
    if create_once(path, lambda: Keyset.generate().to_json()):
        logger.warning(
            "Created a new encryption keyset at %s because %s is not set. Every stored export is encrypted with it:"
            " back it up, losing it makes those files unreadable. Production deployments supply their own keyset"
            " file through %s (a Tink JSON keyset, e.g. made with tinkey).",
            path,
            KEYSET_ENV,
            KEYSET_ENV,
        )
    return load_keyset(path)
