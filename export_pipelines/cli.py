"""The export-pipelines command: run exports, read their history, and run the services around them.

``export`` builds the same ExportRequest as every other launch path and runs it as one Dagster
run on the embedded default; run history is written to the instance under $DAGSTER_HOME.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError


def main(argv: list[str] | None = None) -> int:
    # Everything the command writes is private to its account: the instance's SQLite files (every request,
    # its filters and who ran it), decrypted copies (--out), the outbox.
    os.umask(os.umask(0o077) | 0o077)
    parser = _parser()
    args = parser.parse_args(argv)
    from export_pipelines.errors import ExportError
    from export_pipelines.observability.monitoring import DOWNLOAD_SERVICE, init_error_tracking
    from export_pipelines.request.model import describe_problems
    from export_pipelines.source.database_errors import explain_database_error

    try:
        init_error_tracking(DOWNLOAD_SERVICE if args.command == "serve" else "cli")
        return args.handler(args)
    except ValidationError as error:
        print(f"export-pipelines {args.command}: {describe_problems(error)}", file=sys.stderr)
        return 2
    except (ValueError, OSError, ExportError) as error:
        print(f"export-pipelines {args.command}: {error}", file=sys.stderr)
        return 2
    except DBAPIError as error:
        print(f"export-pipelines {args.command}: {explain_database_error(error)}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="export-pipelines", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="run one export on the embedded default")
    export.add_argument("--request", type=Path, help="a YAML or JSON request file; options below override it")
    export.add_argument("--user", help="who the export is for: their permissions decide the rows (required)")
    export.add_argument("--dataset", help="a dataset of the catalog, e.g. orders (required)")
    export.add_argument("--format", help="csv, json, jsonl, xlsx, pdf, parquet")
    export.add_argument("--columns", help="comma-separated columns in output order")
    export.add_argument("--filter", action="append", default=None, metavar="'COLUMN OP VALUE'",
                        help="repeatable; e.g. 'amount gt 100', 'status in paid,shipped', 'note is_null'")
    export.add_argument("--where", metavar="TEXT",
                        help="conditions as text, with --filter joined by and; e.g. 'status in (paid, refunded) "
                             "and (amount > 100 or note is null) and created_at within last 30 days'")
    export.add_argument("--search", metavar="TEXT", help="keep rows whose searchable columns contain TEXT (any case)")
    export.add_argument("--sort", metavar="COLUMN[:desc][,...]",
                        help="order rows by these columns, each ascending unless :desc; e.g. status,amount:desc")
    export.add_argument("--option", action="append", default=None, metavar="NAME=VALUE",
                        help="a format option, repeatable; e.g. header_style=name (csv), decimals=number (json), "
                             "template=finance/monthly (pdf); README.md, Formats, lists them all")
    export.add_argument("--compression", help="none, gzip, zip or auto (gzip above EXPORT_AUTO_COMPRESS_BYTES)")
    export.add_argument("--timezone", help="IANA time zone for timestamps (default UTC)")
    export.add_argument("--recipient", action="append", default=None, help="email address to notify; repeatable")
    export.add_argument("--title", help="title of the export (PDF heading, email); default: the dataset's title")
    export.add_argument("--chunk-size", type=int, help="rows read per chunk (default 50,000)")
    export.add_argument("--json", action="store_true", help="print one JSON object with the result")
    export.add_argument("--out", type=Path, help="also save a decrypted copy of the file here")
    export.add_argument("--verbose", action="store_true", help="show the run's log on stderr")
    export.add_argument("--executor", choices=("in_process", "multiprocess", "celery"), default="in_process",
                        help="where steps run (default in_process; celery needs Redis and workers)")
    export.set_defaults(handler=_export)

    audit = commands.add_parser("audit", help="who exported what, when, how many rows, and the outcome")
    audit.add_argument("--user", help="only this user's exports")
    audit.add_argument("--dataset", help="only exports of this dataset")
    audit.add_argument("--since", help="ISO date or timestamp (UTC when no offset)")
    audit.add_argument("--limit", type=int, default=1000, help="at most this many, newest first (default 1,000)")
    audit.add_argument("--json", action="store_true", help="print a JSON array")
    audit.add_argument("--downloads", action="store_true", help="downloads and refused attempts instead of exports")
    audit.add_argument("--run", metavar="RUN_ID", help="with --downloads: only this export's")
    audit.set_defaults(handler=_audit)

    download = commands.add_parser("download", help="save the decrypted file of a finished export")
    download.add_argument("run_id", help="the export's run id (export --json and audit show it)")
    download.add_argument("--out", type=Path, help="where to write it (default: the file's name, here)")
    download.set_defaults(handler=_download)

    status = commands.add_parser(
        "status", help="Celery queue lengths, runs queued and running per user, failures of the last 24 hours"
    )
    status.add_argument("--broker", help="Redis URL (default: $EXPORT_CELERY_BROKER_URL or redis://127.0.0.1:6379/0)")
    status.add_argument("--failures", type=int, default=10, metavar="N",
                        help="list the N latest failures of the last 24 hours (default 10; all are counted)")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_status)

    from export_pipelines.automation.commands import add_request_commands, add_subscription_commands
    from export_pipelines.demo.commands import add_demo_commands
    from export_pipelines.reports.preview import add_template_commands
    from export_pipelines.request.formatting.preview import template_display
    from export_pipelines.service.commands import add_delivery_commands
    from export_pipelines.storage.key_commands import add_key_commands

    add_demo_commands(commands)
    add_template_commands(commands, template_display)
    add_key_commands(commands)
    add_delivery_commands(commands)
    add_request_commands(commands)
    add_subscription_commands(commands)
    return parser


def _version() -> str:
    """This package's version and the Dagster it runs on, as installed (not as written in the source)."""
    from importlib.metadata import version

    return f"export-pipelines {version('export-pipelines')} (dagster {version('dagster')})"


def build_request(args):
    """Merge the request file (if any) with the command-line options into an ExportRequest."""
    from export_pipelines.request.model import ExportRequest

    fields = {}
    if args.request:
        fields = yaml.safe_load(args.request.read_text(encoding="utf-8")) or {}
        if not isinstance(fields, dict):
            raise ValueError(f"{args.request}: a request file must hold a mapping of request fields")
    simple = {"user": args.user, "dataset": args.dataset, "format": args.format, "sort": args.sort,
              "where": args.where, "search": args.search,
              "compression": args.compression, "timezone": args.timezone, "title": args.title,
              "chunk_size": args.chunk_size}
    fields.update({name: value for name, value in simple.items() if value is not None})
    if args.columns:
        fields["columns"] = [c.strip() for c in args.columns.split(",") if c.strip()]
    if args.filter is not None:
        fields["filters"] = [parse_filter(text) for text in args.filter]
    if args.option is not None:
        fields["format_options"] = dict(parse_option(text) for text in args.option)
    if args.recipient is not None:
        fields["recipients"] = args.recipient
    for required in ("user", "dataset"):
        if not fields.get(required):
            raise ValueError(f"--{required} is required (or give it in --request)")
    return ExportRequest(**fields)


def parse_filter(text: str) -> dict:
    """'COLUMN OP VALUE' -> {column, op, value}; the value is everything after the operator."""
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise ValueError(f"--filter {text!r}: expected 'COLUMN OP VALUE' (VALUE omitted for is_null / not_null)")
    return {"column": parts[0], "op": parts[1], "value": parts[2] if len(parts) == 3 else None}


def parse_option(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--option {text!r}: expected NAME=VALUE")
    return name.strip(), yaml.safe_load(value)  # so header=false is a boolean


def _export(args) -> int:
    from dagster._core.utils import make_new_run_id

    from export_pipelines.automation.launch import local_instance, run_export
    from export_pipelines.delivery.links import record_with_link
    from export_pipelines.storage.configured import save_decrypted

    request = build_request(args)
    level = "INFO" if args.verbose else "CRITICAL"
    instance = local_instance()
    run_id = make_new_run_id()
    with _progress_bar(instance, run_id, shown=not args.json and not args.verbose and sys.stderr.isatty()):
        record, location = run_export(request, instance, level, executor=args.executor, run_id=run_id)
    record = record_with_link(instance, record)  # history has none: the command that shows the record mints it
    saved = save_decrypted(record.file_key, args.out) if args.out and location else None
    if args.json:
        print(json.dumps({**record.for_requester(), "file": location, "saved_to": saved and str(saved)}, indent=2))
    elif location:
        band = record.rows_withheld_band
        partial = (f" (rows withheld by permissions: {band})" if band else " (some rows withheld by permissions)")
        partial = partial if record.rows_withheld else ""
        print(f"Exported {record.rows:,} rows{partial}, {record.bytes:,} bytes, sha256 {record.sha256}")
        print(f"Stored encrypted at {location} (run {record.run_id})")
        if record.link:
            print(f"Download link: {record.link}")
        if saved:
            print(f"Decrypted copy: {saved}")
        if record.notification:
            reason = f" ({record.notification_reason})" if record.notification_reason else ""
            print(f"Notified by {record.notification}{reason}")
    if record.status != "SUCCESS":
        print(f"export failed (run {record.run_id}): {record.error or record.status}", file=sys.stderr)
        return 1
    return 0


def _progress_bar(instance, run_id: str, shown: bool):
    """A progress bar on the terminal while the export runs; nothing when stderr is not a terminal."""
    if not shown:
        return contextlib.nullcontext()
    from export_pipelines.service.progress_bar import ProgressBar

    return ProgressBar(instance, run_id, sys.stderr)


def _download(args) -> int:
    from export_pipelines.automation.launch import local_instance
    from export_pipelines.observability.audit import audit_record_for_run
    from export_pipelines.storage.configured import save_decrypted

    record = audit_record_for_run(local_instance(), args.run_id)
    if not record.file_key:
        raise ValueError(f"run {args.run_id} has no exported file ({record.status}: {record.error or 'no file'})")
    saved = save_decrypted(record.file_key, args.out or Path(record.file_key.rsplit("/", 1)[-1]))
    print(f"{saved} ({record.bytes:,} bytes, sha256 {record.sha256})")
    return 0


def _audit(args) -> int:
    from export_pipelines.automation.launch import local_instance
    from export_pipelines.delivery.links import record_with_link
    from export_pipelines.observability.audit import audit_records

    if args.downloads:
        from export_pipelines.service.commands import print_downloads

        return print_downloads(args)
    since = _parse_since(args.since) if args.since else None
    instance = local_instance()
    records = audit_records(instance, user=args.user, dataset=args.dataset, since=since, limit=args.limit)
    records = [record_with_link(instance, record) for record in records]
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    print(f"{'started (UTC)':<20} {'user':<12} {'dataset':<10} {'format':<6} {'status':<8} {'rows':>10} "
          f"{'skipped':>8}  file (where it is, or why there is none)")
    for r in records:
        started = (r.started_at or "")[:19].replace("T", " ")
        rows = f"{r.rows:,}" if r.rows is not None else "-"
        skipped = f"{r.skipped_rows:,}" if r.skipped_rows is not None else "-"
        print(f"{started:<20} {r.user or '-':<12} {r.dataset or '-':<10} {r.format or '-':<6} {r.status:<8} "
              f"{rows:>10} {skipped:>8}  {_where(r)}")
    return 0


def _where(record) -> str:
    """The file column: where the file is, where it was and since when it is gone, or why there is none."""
    stored = record.location or record.file_key
    if stored and record.deleted_at:
        return f"{stored} ({record.file})"
    return stored or record.error or ""


def _status(args) -> int:
    from export_pipelines.automation.launch import local_instance
    from export_pipelines.scaleout.status import status_report

    report = status_report(local_instance(), args.broker, listed_failures=args.failures)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    queues = ", ".join(f"{name}={depth}" for name, depth in (report["celery_queues"] or {}).items())
    print(f"celery queues: {queues or report['broker']}")
    print(f"queued runs: {report['queued_runs']}, running runs: {report['running_runs']}")
    if report["users"]:
        print(f"\n{'user':<20} {'running':>7} {'queued':>7}")
        for user, counts in report["users"].items():
            print(f"{user:<20} {counts['running']:>7} {counts['queued']:>7}")
    print(f"\nfailures in the last 24 hours: {report['failures_24h']}")
    if report["recent_failures"]:
        print(f"{'failed at (UTC)':<20} {'user':<12} {'dataset':<10} {'format':<6} {'run id':<36}  reason")
    for failure in report["recent_failures"]:
        failed_at = failure["failed_at"][:19].replace("T", " ")
        reason = " ".join((failure["reason"] or "-").split())  # one line per failure
        print(f"{failed_at:<20} {failure['user'] or '-':<12} {failure['dataset'] or '-':<10} "
              f"{failure['format'] or '-':<6} {failure['run_id']:<36}  {reason}")
    return 0


def _parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: expected an ISO date such as 2026-01-31") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


if __name__ == "__main__":
    sys.exit(main())
