"""``export-pipelines keys``: generate, rotate, list and remove encryption keys.

Rotation adds a key and makes it primary: new files use it, files written before stay readable
with the older keys, which remain in the keyset until they are removed. A key is only removed when
no stored file depends on it: the stored files are checked, not the run history, because a file
is what would become unreadable.

A keyset wrapped by a KMS key (``EXPORT_ENCRYPTION_KEYSET_KMS_KEY``) stays wrapped: rotate and remove
unwrap it, change it, and wrap it again with the same key before it replaces the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from export_pipelines.security.keyset import Keyset, KeysetError
from export_pipelines.security.keyset_store import (
    KEYSET_ENV,
    default_keyset_path,
    keyset_from_env,
    load_keyset,
    save_keyset,
)
from export_pipelines.security.kms import KMS_KEY_ENV
from export_pipelines.settings import data_dir


def add_key_commands(commands) -> None:
    keys = commands.add_parser("keys", help="encryption keys of stored files: generate, rotate, list, remove")
    actions = keys.add_subparsers(dest="action", required=True)

    generate = actions.add_parser("generate", help="write a new keyset file (one AES-256-GCM-HKDF key)")
    generate.add_argument("--out", type=Path, help=f"where (default: ${KEYSET_ENV} or the data folder's keyset)")
    generate.add_argument(
        "--kms-key",
        help=f"wrap the keyset with this AWS KMS key (id, ARN or aws-kms://ARN; default ${KMS_KEY_ENV})",
    )
    generate.set_defaults(handler=_generate)

    rotate = actions.add_parser("rotate", help="add a new primary key; files stay readable with the older keys")
    rotate.set_defaults(handler=_rotate)

    listing = actions.add_parser("list", help="the keys, which one is primary, and how many stored files each protects")
    listing.set_defaults(handler=_list)

    remove = actions.add_parser("remove", help="remove a key no stored file needs any more")
    remove.add_argument("key_id", type=int, help="the key's id, as `keys list` shows it")
    remove.set_defaults(handler=_remove)


def keyset_path() -> Path:
    """The keyset file this process uses: ``$EXPORT_ENCRYPTION_KEYSET``, else the data folder's."""
    return Path(os.environ.get(KEYSET_ENV) or default_keyset_path(data_dir()))


def kms_key() -> str | None:
    """The KMS key that wraps the keyset, if it is wrapped: ``$EXPORT_ENCRYPTION_KEYSET_KMS_KEY``."""
    return os.environ.get(KMS_KEY_ENV, "").strip() or None


def _generate(args) -> int:
    path = args.out or keyset_path()
    if path.exists():
        raise KeysetError(f"{path} exists already: use 'keys rotate' to add a key to it")
    wrapping = args.kms_key or kms_key()
    keyset = Keyset.generate()
    save_keyset(keyset, path, wrapping, new=True)  # the check above, made atomic against a racing generate
    print(f"Wrote a new keyset with primary key {keyset.primary_key_id} to {path} (mode 0600). Back it up.")
    if wrapping:
        print(f"It is wrapped by KMS key {wrapping}: processes that use it need {KMS_KEY_ENV}={wrapping}.")
    return 0


def _rotate(args) -> int:
    path = keyset_path()
    wrapping = kms_key()
    keyset = load_keyset(path, wrapping).rotated()
    save_keyset(keyset, path, wrapping)
    print(f"Key {keyset.primary_key_id} is now primary in {path}; older keys stay for the files they protect.")
    print("Restart long-running workers, or let them pick up the file: new files use the new key.")
    return 0


def _list(args) -> int:
    from export_pipelines.storage.key_usage import files_by_key

    keyset = keyset_from_env(data_dir=data_dir())
    usage = files_by_key(_storage())
    for key in keyset.keys:
        marker = " (primary)" if key.key_id == keyset.primary_key_id else ""
        print(f"{key.key_id}{marker}: {len(usage.get(key.key_id, [])):,} stored file(s)")
    if usage.get(None):
        print(f"unidentified: {len(usage[None]):,} stored file(s) no key of the keyset opens")
    return 0


def _remove(args) -> int:
    from export_pipelines.storage.key_usage import KeyStillInUse, files_by_key, staged_runs

    path = keyset_path()
    wrapping = kms_key()
    keyset = load_keyset(path, wrapping)
    if args.key_id == keyset.primary_key_id:
        raise KeysetError(
            f"key {args.key_id} is the primary key of {path}: new files are encrypted with it. Run"
            " 'export-pipelines keys rotate' first, then remove it once no stored file needs it"
        )
    if args.key_id not in {key.key_id for key in keyset.entries}:
        raise KeysetError(f"{path} holds no enabled key {args.key_id}: 'export-pipelines keys list' shows its keys")
    storage = _storage()
    protected = files_by_key(storage).get(args.key_id, [])
    runs = staged_runs(storage)
    if protected or runs:
        raise KeyStillInUse(args.key_id, protected, runs)
    save_keyset(keyset.without(args.key_id), path, wrapping)
    print(f"Removed key {args.key_id} from {path}; no stored file needed it.")
    return 0


def _storage():
    from export_pipelines.storage.configured import configured_storage

    return configured_storage()
