"""How long does "My exports" take for a user with 10,000 exports in the run history?

The project's ``dagster.yaml`` in a throw-away ``DAGSTER_HOME`` (``--storage sqlite``, the embedded default, or
``postgres``, a throw-away database on ``--postgres-url``'s server); ``--history`` runs of ``export_job`` tagged
for analyst are added to it (most succeeded, some failed, canceled, not started, as a history has them; the rows
``instance.add_run`` writes, in bulk), and ``--baseline-history`` (25) for admin. The download service runs on
uvicorn, as ``export-pipelines serve`` runs it. Each round asks, one after the other over kept-alive connections:

- ``GET /exports`` (the page, 25 exports, signed in through the application's hand-over) for analyst, then admin;
- ``GET /api/v1/exports?limit=25`` for analyst, then admin;
- ``GET /exports?status=failed`` for analyst (a status that is rare in the history);
- "dagster": the same two for analyst with Dagster's own query (``get_run_records`` with the tag filter, what
  the service did before ``service/api/history.py``): the baseline the ratios are to.

admin's ("baseline") are the same page with a history of one page: what the page costs without a long history.
The runs have no events (no file, no step output), as in a history whose events were pruned; a succeeded run of
a real history adds its audit record's one read of its events, which every page does for its own 25 only.
On SQLite the first read of a run's events creates its event-log database (a real history has them): the
``--warmup`` rounds pay that, untimed. p50 and max of each, and the ratios to Dagster's query, are printed.

    .venv/bin/python benchmarks/my_exports_bench.py [--storage sqlite|postgres] [--history 10000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "benchmarks"))

# One run in twenty failed, one in ten canceled, one in fifty not started yet; the rest succeeded.
MIX = (("FAILURE", 20), ("CANCELED", 10), ("NOT_STARTED", 50))
CASES = ("page", "page dagster", "page baseline", "api", "api dagster", "api baseline", "page failed")
BASELINE = {"page": "page dagster", "api": "api dagster"}


def main(arguments) -> dict:
    import httpx
    import jwt
    from api_submit_bench import _drop, _serve, throwaway_deployment

    _, key, database = throwaway_deployment(arguments.storage, arguments.postgres_url, "my-exports-bench-")
    from dagster import DagsterInstance

    from export_pipelines.demo.seed import seed_demo

    seed_demo(os.environ["EXPORT_SOURCE_DB_URL"], rows=1_000)
    instance = DagsterInstance.get()
    started = time.perf_counter()
    add_history(instance, "analyst", arguments.history)
    add_history(instance, "admin", arguments.baseline_history)
    print(f"added {arguments.history:,} + {arguments.baseline_history} runs in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)  # fmt: skip
    server, url = _serve()

    def token(user: str, lifetime: int) -> str:
        claims = {"sub": user, "aud": "export-pipelines", "exp": int(time.time()) + lifetime}
        return jwt.encode(claims, key, "ES256")

    clients = {}
    for user in ("analyst", "admin"):
        pages = httpx.Client(base_url=url, timeout=600, headers={"Cookie": _session(url, token(user, 60))})
        api = httpx.Client(base_url=f"{url}/api/v1", timeout=600,
                           headers={"Authorization": f"Bearer {token(user, 3600)}"})  # fmt: skip
        clients[user] = (pages, api)
    requests = {
        "page": (clients["analyst"][0], "/exports"),
        "page dagster": (clients["analyst"][0], "/exports"),
        "api dagster": (clients["analyst"][1], "/exports?limit=25"),
        "page baseline": (clients["admin"][0], "/exports"),
        "api": (clients["analyst"][1], "/exports?limit=25"),
        "api baseline": (clients["admin"][1], "/exports?limit=25"),
        "page failed": (clients["analyst"][0], "/exports?status=failed"),
    }
    from export_pipelines.service.api import history

    walk_from = history.WALK_FROM
    times: dict[str, list[float]] = {case: [] for case in CASES}
    for round_number in range(arguments.warmup + arguments.rounds):
        for case in CASES:
            client, path = requests[case]
            history.WALK_FROM = 10**12 if case.endswith("dagster") else walk_from  # the service runs in this process
            began = time.perf_counter()
            answer = client.get(path)
            elapsed = (time.perf_counter() - began) * 1000
            if answer.status_code != 200 or (case.startswith("page") and "My exports" not in answer.text):
                raise RuntimeError(f"{case} answered {answer.status_code}: {answer.text[:500]}")
            if round_number >= arguments.warmup:
                times[case].append(elapsed)
    server.should_exit = True
    if database:
        instance.dispose()
        _drop(arguments.postgres_url, database)
    figures = {"storage": arguments.storage, "history": arguments.history, "rounds": arguments.rounds}
    for case, measured in times.items():
        figures[case] = {"p50_ms": round(statistics.median(measured), 1), "max_ms": round(max(measured), 1)}
    return figures


def add_history(instance, user: str, count: int) -> None:
    """``count`` finished (and a few waiting) exports of ``user``'s, a minute apart, oldest first.

    The rows ``instance.add_run`` writes (the run and its tags), a thousand to a statement: ``add_run`` takes
    minutes for 10,000 on SQLite (a commit, and a reflection of the runs table, each).
    """
    from datetime import UTC, datetime, timedelta

    from dagster import DagsterRun, DagsterRunStatus
    from dagster._core.storage.runs.schema import RunsTable, RunTagsTable
    from dagster._core.utils import make_new_run_id
    from dagster._serdes import serialize_value

    storage = instance.run_storage
    backfill = {"backfill_id": None} if storage.has_backfill_id_column() else {}
    first = datetime.now(UTC) - timedelta(minutes=count)
    runs, tags = [], []
    for n in range(count):
        status = next((name for name, every in MIX if n % every == 0), "SUCCESS")
        run_tags = {"export/user": user, "export/dataset": "orders", "export/format": "csv",
                    "export/submitted_via": "api"}  # fmt: skip
        run = DagsterRun(job_name="export_job", run_id=make_new_run_id(), tags=run_tags,
                         status=DagsterRunStatus(status))  # fmt: skip
        runs.append({"run_id": run.run_id, "pipeline_name": run.job_name, "status": status, "snapshot_id": None,
                     "run_body": serialize_value(run), "partition": None, "partition_set": None,
                     "create_timestamp": first + timedelta(minutes=n), **backfill})  # fmt: skip
        tags += [{"run_id": run.run_id, "key": key, "value": value} for key, value in run.tags_for_storage().items()]
    with storage.connect() as connection:
        for start in range(0, count, 1000):
            connection.execute(RunsTable.insert(), runs[start : start + 1000])
        for start in range(0, len(tags), 4000):
            connection.execute(RunTagsTable.insert(), tags[start : start + 4000])


def _session(url: str, handover: str) -> str:
    """The session cookie the application's hand-over sets (sent by hand: httpx keeps Secure cookies for https)."""
    import httpx

    answer = httpx.get(f"{url}/signin/app", params={"token": handover}, timeout=60)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("export_session="))
    return cookie.split(";", 1)[0]


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--baseline-history", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    import json

    figures = main(_arguments())
    print(f'"My exports" with {figures["history"]:,} runs in the history ({figures["storage"]}), '
          f"{figures['rounds']} rounds, median (max):")  # fmt: skip
    for case in CASES:
        base = figures[BASELINE[case]]["p50_ms"] if case in BASELINE else None
        ratio = f"  {figures[case]['p50_ms'] / base:.2f}x Dagster's query" if base else ""
        print(f"  {case:14} {figures[case]['p50_ms']:8.1f} ms ({figures[case]['max_ms']:.1f}){ratio}")
    print(json.dumps(figures))
