"""``export-pipelines keys``: generate, rotate, list and remove encryption keys.

Rotation adds a key and makes it primary: new files use it, files written before stay readable
with the older keys, which remain in the keyset until they are removed. A key is only removed when
no stored file depends on it: the stored files are checked, not the run history, because a file
is what would become unreadable.
"""

from __future__ import annotations

import os
from pathlib import Path

from export_pipelines.security.keyset import KEYSET_ENV, Keyset, KeysetError, keyset_from_env, load_keyset, save_keyset
from export_pipelines.settings import data_dir


def add_key_commands(commands) -> None:
    keys = commands.add_parser("keys", help="encryption keys of stored files: generate, rotate, list, remove")
    actions = keys.add_subparsers(dest="action", required=True)

    generate = actions.add_parser("generate", help="write a new keyset file (one AES-256-GCM-HKDF key)")
    generate.add_argument("--out", type=Path, help=f"where (default: ${KEYSET_ENV} or the data folder's keyset)")
    generate.set_defaults(handler=_generate)

    rotate = actions.add_parser("rotate", help="add a new primary key; files stay readable with the older keys")
    rotate.set_defaults(handler=_rotate)

    listing = actions.add_parser("list", help="the keys, which one is primary, and how many stored files each protects")
    listing.set_defaults(handler=_list)

    remove = actions.add_parser("remove", help="remove a key no stored file needs any more")
    remove.add_argument("key_id", type=int)
    remove.set_defaults(handler=_remove)


def keyset_path() -> Path:
    """The keyset file this process uses: ``$EXPORT_ENCRYPTION_KEYSET``, else the data folder's."""
    return Path(os.environ.get(KEYSET_ENV) or data_dir() / "keys" / "keyset.json")


def _generate(args) -> int:
    path = args.out or keyset_path()
    if path.exists():
        raise KeysetError(f"{path} exists already: use 'keys rotate' to add a key to it")
    keyset = Keyset.generate()
    save_keyset(keyset, path)
    print(f"Wrote a new keyset with primary key {keyset.primary_key_id} to {path} (mode 0600). Back it up.")
    return 0


def _rotate(args) -> int:
    path = keyset_path()
    keyset = load_keyset(path).rotated()
    save_keyset(keyset, path)
    print(f"Key {keyset.primary_key_id} is now primary in {path}; older keys stay for the files they protect.")
    print("Restart long-running workers, or let them pick up the file: new files use the new key.")
    return 0


def _list(args) -> int:
    from export_pipelines.security.key_usage import files_by_key

    keyset = keyset_from_env(data_dir=data_dir())
    usage = files_by_key(_storage())
    for key in keyset.keys:
        marker = " (primary)" if key.key_id == keyset.primary_key_id else ""
        print(f"{key.key_id}{marker}: {len(usage.get(key.key_id, [])):,} stored file(s)")
    if usage.get(None):
        print(f"unidentified: {len(usage[None]):,} stored file(s) no key of the keyset opens")
    return 0


def _remove(args) -> int:
    from export_pipelines.security.key_usage import KeyStillInUse, files_by_key, staged_runs

    path = keyset_path()
    keyset = load_keyset(path)
    keyset.key(args.key_id)  # a clear error for an unknown id
    storage = _storage()
    protected = files_by_key(storage).get(args.key_id, [])
    runs = staged_runs(storage)
    if protected or runs:
        raise KeyStillInUse(args.key_id, protected, runs)
    save_keyset(keyset.without(args.key_id), path)
    print(f"Removed key {args.key_id} from {path}; no stored file needed it.")
    return 0


def _storage():
    from export_pipelines.resources import ExportStorageResource

    return ExportStorageResource().get()
