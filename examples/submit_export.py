"""Submit an export through Dagster's GraphQL API, wait for it, and print its result or why it failed.

    python examples/submit_export.py --port 3000 --user analyst --dataset orders --format csv \\
        [--private-key application.pem] [--request request.yaml] [--json]

The request is the same ``ExportRequest`` every path uses. With ``--private-key`` (the application's
PEM key, whose public half the deployment has in $EXPORT_REQUEST_TOKEN_PUBLIC_KEY) the submission
carries a request token for exactly this request and user: a deployment that does not trust unsigned
submissions needs one. The result (rows, file key, a download link) or the failure reason are read
from run history (``export_pipelines.observability.audit``), so this script runs where the instance is readable
($DAGSTER_HOME, or the deployment's dagster.yaml with its PostgreSQL storage). Exit status 0 when
the file is ready, 1 when the export failed or was refused, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml
from dagster import DagsterInstance
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from export_pipelines.automation.admission import TAG_REQUEST_TOKEN
from export_pipelines.delivery.links import record_with_link
from export_pipelines.observability.audit import AuditRecord, audit_record_for_run
from export_pipelines.request.model import VALIDATE_OP, ExportRequest, canonical_digest
from export_pipelines.security.request_tokens import issue_request_token

LOCATION = {"repository_location_name": "export_pipelines", "repository_name": "__repository__"}
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


class Refused(Exception):
    """The webserver did not accept the submission (the gate refused it, or the run config was wrong)."""


def submit(client: DagsterGraphQLClient, request: ExportRequest, private_key_pem: bytes | None = None) -> str:
    """Submit one run of export_job for ``request``; its run id. Raises Refused with the reason."""
    tags = {}
    if private_key_pem is not None:
        digest = canonical_digest(request.run_config()["ops"][VALIDATE_OP]["config"])
        tags[TAG_REQUEST_TOKEN] = issue_request_token(private_key_pem, request.user, digest)
    try:
        return client.submit_job_execution("export_job", run_config=request.run_config(), tags=tags, **LOCATION)
    except DagsterGraphQLClientError as error:
        raise Refused(_refusal(error)) from None


def wait(client: DagsterGraphQLClient, run_id: str, timeout: float = 600, poll: float = 1.0) -> str:
    """Poll the run's status until it ends; the final status (SUCCESS, FAILURE, CANCELED)."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.get_run_status(run_id).value
        if status in FINISHED:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} is still {status} after {timeout:.0f} s")
        time.sleep(poll)


def result(run_id: str, instance: DagsterInstance | None = None) -> AuditRecord:
    """What the export produced or why it failed, as the audit log reports it (with a fresh link)."""
    instance = instance or DagsterInstance.get()
    return record_with_link(instance, audit_record_for_run(instance, run_id))


def _refusal(error: DagsterGraphQLClientError) -> str:
    # The client's message names the GraphQL error type; the body says why (the gate's reason).
    body = getattr(error, "body", None)
    message = getattr(body, "message", None) or (body.get("message") if isinstance(body, dict) else None)
    return message or str(error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--request", type=Path, help="a YAML or JSON file of request fields")
    parser.add_argument("--user")
    parser.add_argument("--dataset")
    parser.add_argument("--format")
    parser.add_argument("--private-key", type=Path, help="the application's PEM private key: sign a request token")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    fields = yaml.safe_load(args.request.read_text(encoding="utf-8")) if args.request else {}
    fields.update({k: v for k, v in (("user", args.user), ("dataset", args.dataset), ("format", args.format)) if v})
    try:
        request = ExportRequest(**fields)
    except ValueError as error:
        print(f"submit_export: the request is not valid: {error}", file=sys.stderr)
        return 2
    key = args.private_key.read_bytes() if args.private_key else None
    client = DagsterGraphQLClient(args.host, port_number=args.port)
    try:
        run_id = submit(client, request, key)
    except Refused as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 1
    print(f"submitted run {run_id}", file=sys.stderr)
    wait(client, run_id, args.timeout)
    record = result(run_id)
    if args.json:
        print(json.dumps(record.as_dict()))
    elif record.status == "SUCCESS":
        print(f"{record.rows:,} rows in {record.file_key}\n{record.link or '(no link: links are not set up here)'}")
    else:
        print(f"{record.status.lower()}: {record.error or 'canceled (see the run in the UI)'}")
    return 0 if record.status == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
