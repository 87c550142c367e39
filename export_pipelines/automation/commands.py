"""``export-pipelines requests`` and ``subscriptions``: create the application's tables, add rows, list them.

``requests``: exports asked for once (export_requests); ``subscriptions``: recurring exports
(export_subscriptions), also paused, resumed and removed here.
"""

from __future__ import annotations

import json
from datetime import datetime
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


def add_subscription_commands(commands) -> None:
    subscriptions = commands.add_parser("subscriptions", help="recurring exports kept in export_subscriptions")
    actions = subscriptions.add_subparsers(dest="action", required=True)
    db_help = "SQLAlchemy URL (default: $EXPORT_SOURCE_DB_URL or var/demo.sqlite)"
    init = actions.add_parser("init", help="create the export_subscriptions table in the source database (idempotent)")
    init.set_defaults(handler=_init_subscriptions)
    add = actions.add_parser("add", help="add a subscription (or change one with --replace); its first run is the "
                             "next cron time from now")  # fmt: skip
    add.add_argument("name", help="unique name: lowercase letters, digits and _, starting with a letter")
    add.add_argument("--owner", required=True, help="the user the export runs as (their grants decide the rows)")
    add.add_argument("--request", type=Path, required=True, help="a YAML or JSON file of request fields (no user)")
    add.add_argument("--cron", required=True, help="when it runs, read in --timezone, e.g. '0 6 * * *'")
    add.add_argument("--timezone", default="UTC", help="IANA time zone of the cron and the window (default UTC)")
    add.add_argument("--recipient", action="append", default=[], help="email address told when a file is ready; "
                     "repeatable")  # fmt: skip
    add.add_argument("--window", choices=("day", "week", "month", "since_last_success"),
                     help="export only the rows of this window on --window-column (default: all rows)")
    add.add_argument("--window-column", default="created_at", help="the timestamp column the window applies to "
                     "(default created_at)")  # fmt: skip
    add.add_argument("--paused", action="store_true", default=None, help="add it paused (with --replace: pause it)")
    add.add_argument("--replace", action="store_true", help="change the subscription of this name instead; a new "
                     "cron or time zone runs from its next time after now, never at once")  # fmt: skip
    add.set_defaults(handler=_add_subscription)
    listing = actions.add_parser("list", help="every subscription, its state and its next run")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=_list_subscriptions)
    for action, text in (("pause", "stop running a subscription"),
                         ("resume", "run a paused subscription again, from its next cron time after now"),
                         ("remove", "delete a subscription (its runs stay in run history)")):  # fmt: skip
        command = actions.add_parser(action, help=text)
        command.add_argument("name", help="the subscription's name")
        command.set_defaults(handler=_change_subscription)
    for command in actions.choices.values():
        command.add_argument("--db", help=db_help)


def _subscriptions(args):
    from export_pipelines.automation.subscription_table import SubscriptionTable

    return SubscriptionTable(args.db or default_source_url())


def _init_subscriptions(args) -> int:
    added = _subscriptions(args).create()
    if added is None:
        print("Created export_subscriptions.")
    elif added:
        columns = ", ".join(added)
        print(f"export_subscriptions exists already; added the column(s) {columns} (rows keep their defaults).")
    else:
        print("export_subscriptions exists already; nothing changed.")
    return 0


def _add_subscription(args) -> int:
    from export_pipelines.automation.subscription_table import validated

    request = yaml.safe_load(args.request.read_text(encoding="utf-8"))
    if not isinstance(request, dict):
        raise ValueError(f"{args.request}: a request file must hold a mapping of request fields")
    fields = {"name": args.name, "owner": args.owner, "request": request, "cron": args.cron,
              "timezone": args.timezone, "recipients": args.recipient, "window": args.window,
              "window_column": args.window_column}  # fmt: skip
    if args.paused is not None:
        fields["paused"] = args.paused
    table = _subscriptions(args)
    if args.replace:
        table.update(args.name, fields)
    else:
        table.add(validated(fields))
    upcoming = _next(table, args.name) or "none (paused)"
    print(f"{'Changed' if args.replace else 'Added'} {args.name}; next run: {upcoming}.")
    return 0


def _change_subscription(args) -> int:
    table = _subscriptions(args)
    changed = getattr(table, args.action)(args.name)
    state = {"pause": "paused", "resume": "running", "remove": "removed"}[args.action]
    print(f"{args.name} {state}." if changed else f"{args.name} was {state} already; nothing changed.")
    return 0


def _list_subscriptions(args) -> int:
    good, bad = _subscriptions(args).load()
    rows = [{**entry.subscription.model_dump(), "next_run": _next_run(entry), "problem": None} for entry in good]
    rows += [{"name": row.name, "cron": row.cron, "timezone": row.timezone, "problem": row.reason} for row in bad]
    rows.sort(key=lambda row: row["name"])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = "invalid" if row["problem"] else "paused" if row["paused"] else "active"
        detail = row["problem"] or (f"{row['owner']} {row['request'].get('dataset', '?')}, window "
                                    f"{row['window'] or 'all rows'}, next {row['next_run']}")  # fmt: skip
        print(f"{row['name']:<24} {state:<8} {row['cron'] or '-':<16} {row['timezone'] or '-':<20} {detail}")
    return 0


def _next(table, name: str) -> str | None:
    return _next_run(next(entry for entry in table.load()[0] if entry.subscription.name == name))


def _next_run(entry) -> str | None:
    """The next tick the sensor will run: the first cron time after now (or after a later ticks_after)."""
    from dagster._time import get_current_datetime

    from export_pipelines.automation.subscription_sensor import next_tick

    if entry.subscription.paused:
        return None
    moment = next_tick(entry.subscription, max(entry.ticks_after, get_current_datetime(), key=datetime.timestamp))
    return moment.isoformat() if moment is not None else None
