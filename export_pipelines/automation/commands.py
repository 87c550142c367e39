"""``export-pipelines requests``: create the export_requests table, add a request, list requests."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from export_pipelines.settings import default_source_url


def add_request_commands(commands) -> None:
    requests = commands.add_parser("requests", help="exports asked for by inserting rows in export_requests")
    actions = requests.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="create the export_requests table in the source database (idempotent)")
    init.add_argument("--db", help="SQLAlchemy URL (default: $EXPORT_SOURCE_DB_URL or var/demo.sqlite)")
    init.set_defaults(handler=_init)
    add = actions.add_parser("add", help="insert a request row, as an application does")
    add.add_argument("--db", help="SQLAlchemy URL (default: $EXPORT_SOURCE_DB_URL or var/demo.sqlite)")
    add.add_argument("--user", required=True, help="who the export is for (the row's user_name)")
    add.add_argument("request", type=Path, help="a YAML or JSON file of request fields (no user)")
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="the rows and where each one is")
    listing.add_argument("--db", help="SQLAlchemy URL (default: $EXPORT_SOURCE_DB_URL or var/demo.sqlite)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=_list)


def _table(args):
    from export_pipelines.automation.request_table import RequestTable

    return RequestTable(args.db or default_source_url())


def _init(args) -> int:
    created = _table(args).create()
    print("Created export_requests." if created else "export_requests exists already; nothing changed.")
    return 0


def _add(args) -> int:
    fields = yaml.safe_load(args.request.read_text(encoding="utf-8"))
    if not isinstance(fields, dict):
        raise ValueError(f"{args.request}: a request file must hold a mapping of request fields")
    print(_table(args).insert(args.user, fields))
    return 0


def _list(args) -> int:
    rows = list(_table(args).all())
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], default=str, indent=2))
        return 0
    for row in rows:
        outcome = row.file_key or row.reason or ""
        print(f"{row.id:>6} {row.user_name:<12} {row.status:<10} {row.run_id or '-':<36} {outcome}")
    return 0
