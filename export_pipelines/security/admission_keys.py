"""The keys that sign admission receipts: an Ed25519 key set like the link signing keys, in a file of its own.

The submission gate signs a receipt for every export it admits (``security.receipts``); every step
of the run verifies it before it reads a row or writes a byte. The receipt is only worth something if
nobody but the deployment can sign one, so its key is the deployment's, read here and only here, and
handled exactly like the link signing keys (``signing_keys``: the same JWK Set format, rotation and
caching). It is a separate file from the link keys on purpose: the download service, which faces the
internet, needs the link keys and must not be able to admit an export.

``EXPORT_ADMISSION_KEYS`` names the file. Without it the gate creates one in the data folder on first
use (the embedded default, where the gate and the steps share that folder). A step never creates one:
a new key could verify no receipt, so a process without the file is told to get it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from export_pipelines.security.key_files import create_once
from export_pipelines.security.signing_keys import SigningKeyError, SigningKeys, load_signing_keys

logger = logging.getLogger(__name__)

ADMISSION_KEYS_ENV = "EXPORT_ADMISSION_KEYS"


def default_admission_keys_path(data_dir: Path) -> Path:
    return Path(data_dir) / "keys" / "admission_keys.json"


def admission_keys_path(environ: Mapping[str, str] = os.environ, *, data_dir: Path) -> Path:
    """``$EXPORT_ADMISSION_KEYS``, else the data folder's key file."""
    return Path(environ.get(ADMISSION_KEYS_ENV) or default_admission_keys_path(data_dir))


def admission_keys_for_signing(environ: Mapping[str, str] = os.environ, *, data_dir: Path) -> SigningKeys:
    """The gate's key set; created in the data folder on first use when ``EXPORT_ADMISSION_KEYS`` is unset."""
    if not environ.get(ADMISSION_KEYS_ENV):
        path = default_admission_keys_path(data_dir)
        # Info, not a warning: the embedded default's gate and steps share the data folder, so this file is
        # all it needs, and the command line prints warnings as plain lines among its JSON log lines.
        if create_once(path, lambda: SigningKeys.generate().to_json()):
            logger.info(
                "Created a new admission key at %s because %s is not set. Every process that runs export steps "
                "must read the same file: deployments supply one through %s.",
                path, ADMISSION_KEYS_ENV, ADMISSION_KEYS_ENV,
            )  # fmt: skip
    return _load(environ, data_dir)


def admission_keys_for_verifying(environ: Mapping[str, str] = os.environ, *, data_dir: Path) -> SigningKeys:
    """The key set a step verifies receipts with; never created here (a new key verifies nothing)."""
    return _load(environ, data_dir)


def _load(environ: Mapping[str, str], data_dir: Path) -> SigningKeys:
    path = admission_keys_path(environ, data_dir=data_dir)
    try:
        return load_signing_keys(path)
    except SigningKeyError as error:
        where = f"{ADMISSION_KEYS_ENV} is set" if environ.get(ADMISSION_KEYS_ENV) else f"{ADMISSION_KEYS_ENV} is unset"
        raise SigningKeyError(
            f"the admission key set cannot be read ({where}): {error}. Give every process of the deployment the "
            f"gate's admission key file through {ADMISSION_KEYS_ENV} (the gate creates keys/admission_keys.json in "
            "its data folder when none is given)"
        ) from None
