"""``export-pipelines link``, ``revoke``, ``serve`` and ``link-keys``; and the download log for ``audit --downloads``.

Starlette + uvicorn because both already come with dagster-webserver (no new dependency), uvicorn is a
production ASGI server (httptools, flow control, graceful shutdown), and Starlette streams a response
from an iterator with back-pressure while decryption runs in its thread pool.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from export_pipelines.delivery.links import parse_ttl


def add_delivery_commands(commands) -> None:
    link = commands.add_parser("link", help="a fresh download link for a finished export")
    link.add_argument("run_id", help="the export's run id (export --json and audit show it)")
    link.add_argument("--ttl", type=parse_ttl, help="how long it works, e.g. 1d, 12h (default: $EXPORT_LINK_TTL or 7d;"
                      " never past the file's expiry)")  # fmt: skip
    link.add_argument("--json", action="store_true", help="print url, token and expires_at as JSON")
    link.set_defaults(handler=_link)

    revoke = commands.add_parser("revoke", help="make every link of an export answer 410 Gone")
    revoke.add_argument("run_id", help="the export whose links stop working")
    revoke.set_defaults(handler=_revoke)

    serve = commands.add_parser("serve", help="the download service for links (Starlette on uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.set_defaults(handler=_serve)

    keys = commands.add_parser("link-keys", help="link signing keys: generate a key file, rotate the active key")
    actions = keys.add_subparsers(dest="action", required=True)
    actions.add_parser("generate", help="write a new key file (at $EXPORT_LINK_SIGNING_KEYS or the data folder's)"
                       ).set_defaults(handler=_generate_keys)  # fmt: skip
    actions.add_parser("rotate", help="a new key signs new links; links signed before verify until they expire"
                       ).set_defaults(handler=_rotate_keys)  # fmt: skip


def _link(args) -> int:
    from export_pipelines.automation.launch import local_instance
    from export_pipelines.delivery.exports import is_revoked
    from export_pipelines.delivery.links import mint_link
    from export_pipelines.observability.audit import audit_record_for_run
    from export_pipelines.run.resources import ExportStorageResource

    instance = local_instance()
    record = audit_record_for_run(instance, args.run_id)
    if record.status != "SUCCESS" or not record.file_key:
        raise ValueError(f"run {args.run_id} has no exported file ({record.status}: {record.error or 'no file'})")
    if is_revoked(instance.get_run_by_id(args.run_id).tags):
        raise ValueError(f"the export of run {args.run_id} was revoked: run the export again for a new file")
    if not ExportStorageResource().get().exists(record.file_key):
        raise ValueError(f"the file of run {args.run_id} was deleted: run the export again for a new file")
    expires = datetime.fromisoformat(record.expires_at) if record.expires_at else None
    link = mint_link(run_id=record.run_id, file_key=record.file_key, owner=record.user or "", file_expires_at=expires,
                     ttl=args.ttl)  # fmt: skip
    if args.json:
        print(json.dumps({"url": link.url, "token": link.token, "expires_at": link.expires_at.isoformat()}, indent=2))
    else:
        print(link.url)
        print(f"valid until {link.expires_at:%Y-%m-%d %H:%M} UTC", flush=True)
    return 0


def _revoke(args) -> int:
    from export_pipelines.automation.launch import local_instance
    from export_pipelines.delivery.exports import revoke

    when = revoke(local_instance(), args.run_id)
    print(f"Every link of run {args.run_id} now answers 410 Gone (revoked at {when}).")
    return 0


def _serve(args) -> int:
    import uvicorn

    from export_pipelines.service.access_log import log_config
    from export_pipelines.service.app import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info", log_config=log_config(),
                server_header=False)  # fmt: skip
    return 0


def _generate_keys(args) -> int:
    from export_pipelines.security.signing_keys import SigningKeys, save_signing_keys, signing_keys_path
    from export_pipelines.settings import data_dir

    path = signing_keys_path(data_dir=data_dir())
    if path.exists():
        raise ValueError(f"{path} exists already: use 'link-keys rotate' to add a key to it")
    save_signing_keys(SigningKeys.generate(), path)
    print(f"Wrote a new link signing key to {path} (mode 0600). Every process that mints or serves links needs it.")
    return 0


def _rotate_keys(args) -> int:
    from export_pipelines.security.signing_keys import load_signing_keys, save_signing_keys, signing_keys_path
    from export_pipelines.settings import data_dir

    path = signing_keys_path(data_dir=data_dir())
    keys = load_signing_keys(path).rotated()
    save_signing_keys(keys, path)
    print(f"Key {keys.active_kid} now signs new links; links signed before verify until they expire.")
    return 0


def print_downloads(args) -> int:
    """``audit --downloads [--run RUN_ID] [--json]``: every download and refused attempt, newest first."""
    import sys

    from export_pipelines.automation.launch import local_instance
    from export_pipelines.delivery.download_log import read_attempts

    attempts, skipped = read_attempts(local_instance(), run_id=args.run, limit=args.limit)
    if skipped:
        print(f"audit --downloads: skipped {skipped} record(s) of export_downloads that the download service did"
              " not write (reported through Dagster's API by someone who may report asset events)",
              file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps([a.as_dict() for a in attempts], indent=2))
        return 0
    print(f"{'when (UTC)':<20} {'status':>6} {'outcome':<14} {'what':<5} {'owner':<12} {'user':<12} {'bytes':>14}"
          f"  {'range':<28} run")  # fmt: skip
    for a in attempts:
        when = datetime.fromisoformat(a.at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{when:<20} {a.status:>6} {a.outcome:<14} {a.what:<5} {a.owner or '-':<12} {a.user or '-':<12} "
            f"{a.bytes_sent:>14,}  {a.range or '-':<28} {a.run_id or '-'}"
        )
    return 0
