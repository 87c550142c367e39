"""An application's client of the export API: submit an export, follow it over the WebSocket, download the file.

    python examples/api_client.py --api http://127.0.0.1:8080/api/v1 --token "$APP_JWT" \\
        --dataset orders --format csv [--columns order_id,amount] [--where 'amount > 100'] [--out orders.csv]

Needs only httpx and websockets (both in the project's environment: `.venv/bin/python`), not this package:
an application talks to the API over HTTP. ``--token`` is an app JWT the deployment accepts (signed by the
key in $EXPORT_APP_JWT_PUBLIC_KEY, or one of $EXPORT_APP_JWKS_URL's; ``sub`` is the user). The submission
carries an ``Idempotency-Key``, so sending it again after a dropped connection cannot export twice. Progress
comes from the WebSocket of the answer's ``events_url`` (one JSON message per event), the file from the
export's ``download_url``. Prints the file's path, size and sha256; exit status 0 when it was downloaded,
1 when the export failed or was refused (the API's problem is printed), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid

import httpx
from websockets.sync.client import connect


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    request = {"dataset": args.dataset, "format": args.format}
    if args.columns:
        request["columns"] = args.columns.split(",")
    if args.where:
        request["where"] = args.where
    headers = {"Authorization": f"Bearer {args.token}", "Idempotency-Key": str(uuid.uuid4())}
    with httpx.Client(base_url=args.api, headers=headers, timeout=60) as api:
        answer = api.post("/exports", json=request)
        if answer.status_code not in (200, 202):
            return _refused(answer)
        export = answer.json()
        print(f"export {export['id']}: {export['status']}", flush=True)
        last = _follow(export["events_url"])
        if last.get("event") != "succeeded":
            shown = api.get(f"/exports/{export['id']}").json()
            print(
                f"failed: {(shown.get('error') or {}).get('reason')} ({(shown.get('error') or {}).get('what_to_do')})"
            )
            return 1
        shown = api.get(f"/exports/{export['id']}").json()
    return _download(shown["download_url"], args.out or f"export-{export['id']}.{args.format}")


def _follow(events_url: str) -> dict:
    """Print each event as it comes (phase, overall percent, rows); return the last one."""
    last: dict = {}
    with connect(events_url, open_timeout=30) as socket:
        for message in socket:
            last = json.loads(message)
            rows = f", {last['rows']:,} rows" if isinstance(last.get("rows"), int) else ""
            print(f"  {last['event']:<10} {last.get('overall', '')!s:>3}%{rows}", flush=True)
            if last["event"] in ("succeeded", "failed"):
                break
    return last


def _download(download_url: str, out: str) -> int:
    digest, size = hashlib.sha256(), 0
    with httpx.stream("GET", f"{download_url}/file", timeout=300) as response, open(out, "wb") as file:
        response.raise_for_status()
        for block in response.iter_bytes():
            file.write(block)
            digest.update(block)
            size += len(block)
    print(f"saved {out}: {size:,} bytes, sha256 {digest.hexdigest()}")
    return 0


def _refused(answer: httpx.Response) -> int:
    problem = answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
    print(f"refused ({answer.status_code}): {problem.get('detail', answer.text)}", file=sys.stderr)
    for error in problem.get("errors", []):
        allowed = f" (allowed: {error['allowed']})" if error.get("allowed") else ""
        print(f"  {error['field']}: {error['detail']}{allowed}", file=sys.stderr)
    if "retry-after" in answer.headers:
        print(f"  try again in {answer.headers['retry-after']} s", file=sys.stderr)
    return 1


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8080/api/v1", help="the API's base URL")
    parser.add_argument("--token", required=True, help="an app JWT for the user (sub) the export is for")
    parser.add_argument("--dataset", required=True, help="a dataset GET /api/v1/datasets lists")
    parser.add_argument("--format", default="csv", help="csv, json, jsonl, xlsx, pdf or parquet")
    parser.add_argument("--columns", help="comma-separated columns in output order (default: all)")
    parser.add_argument("--where", help='conditions as text, e.g. "status = paid and amount > 100"')
    parser.add_argument("--out", help="where to save the file (default: export-<id>.<format>)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
