"""Where does a large export's time go on each executor, and what does Celery dispatch cost?

One run of this script seeds N orders (default 1,000,000) in a throw-away PostgreSQL database,
starts its own redis-server and runs the same CSV export with: in_process, multiprocess, celery
with 1 worker and celery with 2 workers (each worker one process, -c 1). Every export is the
real CLI in a fresh process against a PostgreSQL-backed Dagster instance, as in a deployment.
It prints wall time per executor (median of --repeat), time per step kind, and for Celery the
dispatch latency: from "Submitting celery task" to the step starting on a worker.

    .venv/bin/python benchmarks/celery_bench.py                 # 1M rows, ~10 min on 2 cores
    .venv/bin/python benchmarks/celery_bench.py --rows 200000 --repeat 1

Nothing is asserted: this measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CASES = ("in_process", "multiprocess", "celery-1", "celery-2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="celery_bench_") as folder, _databases(2) as (source, dagster_db):
        home = Path(folder) / "home"
        home.mkdir()
        shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        redis_port = _free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL)  # fmt: skip
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_db.replace("postgresql+psycopg://", "postgresql://"),
            "EXPORT_MAX_CONCURRENT_RUNS": "20",
            "EXPORT_SOURCE_DB_URL": source,
            "EXPORT_DATA_DIR": str(Path(folder) / "var"),
            "EXPORT_CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "EXPORT_CODE_VERSION": "bench",
        }
        os.environ.update(env)
        try:
            started = time.perf_counter()
            from export_pipelines.demo.seed import seed_demo

            seed_demo(source, rows=args.rows)
            print(f"seeded {args.rows:,} orders in {time.perf_counter() - started:.1f} s", flush=True)
            results = {case: _measure(case, args, env, Path(folder)) for case in args.cases}
        finally:
            redis.terminate()
    _report(results, args)
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    return 0


def _measure(case: str, args, env: dict, folder: Path) -> dict:
    executor, _, count = case.partition("-")
    workers = [_start_worker(f"w{i}", env, folder) for i in range(int(count or 0))]
    try:
        if workers:
            _wait_for_workers(env["EXPORT_CELERY_BROKER_URL"], len(workers))
        runs = []
        for attempt in range(args.repeat):
            began = time.perf_counter()
            done = subprocess.run(
                [str(BIN / "export-pipelines"), "export", "--user", "admin", "--dataset", "orders", "--format", "csv",
                 "--chunk-size", str(args.chunk_size), "--executor", executor, "--json"],
                env=env, capture_output=True, text=True, timeout=3600,
            )  # fmt: skip
            seconds = time.perf_counter() - began
            result = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {"status": done.stderr[-500:]}
            print(f"{case} run {attempt + 1}: {seconds:.1f} s, {result.get('status')}", flush=True)
            runs.append({"seconds": seconds, "run_id": result.get("run_id"), **_step_times(result.get("run_id"))})
        return {"runs": runs}
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)


def _step_times(run_id: str | None) -> dict:
    """Seconds per step kind (summed over mapped steps) and Celery dispatch latencies."""
    if not run_id:
        return {}
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.get()
    starts, per_kind, submitted, dispatch = {}, defaultdict(float), {}, []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.ENGINE_EVENT and (event.message or "").startswith("Submitting celery"):
            submitted[event.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
            if event.step_key in submitted:
                dispatch.append(entry.timestamp - submitted[event.step_key])
        elif event.event_type == DagsterEventType.STEP_SUCCESS and event.step_key in starts:
            kind = event.step_key.split("[")[0].split("_")[0]
            per_kind[kind] += entry.timestamp - starts[event.step_key]
    return {"steps": dict(per_kind), "dispatch": dispatch}


def _report(results: dict, args) -> None:
    baseline = statistics.median(r["seconds"] for r in results[next(iter(results))]["runs"])
    print(f"\n{args.rows:,} rows, csv, chunk_size {args.chunk_size:,}, median of {args.repeat}")
    print(f"{'executor':<14}{'seconds':>9}{'rows/s':>10}{'ratio':>7}  step seconds (summed){'':<44} dispatch median")
    for case, result in results.items():
        seconds = statistics.median(r["seconds"] for r in result["runs"])
        steps = result["runs"][-1].get("steps", {})
        spread = " ".join(f"{k}={v:.1f}" for k, v in steps.items())
        dispatch = [d for r in result["runs"] for d in r.get("dispatch", [])]
        latency = f"{statistics.median(dispatch) * 1000:.0f} ms (n={len(dispatch)})" if dispatch else "-"
        rate = args.rows / seconds
        print(f"{case:<14}{seconds:>9.1f}{rate:>10,.0f}{seconds / baseline:>7.2f}  {spread:<66} {latency}")


def _start_worker(name: str, env: dict, folder: Path) -> subprocess.Popen:
    log = (folder / f"{name}.log").open("w")
    return subprocess.Popen(
        [str(BIN / "celery"), "-A", "export_pipelines.scaleout.celery_app", "worker", "-Q", "dagster,render", "-c", "1",
         "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _wait_for_workers(broker: str, count: int) -> None:
    from export_pipelines.scaleout.celery_settings import backend_url, wait_for_workers

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        consumers = wait_for_workers(broker, backend_url(), 120)
        if len(consumers.get("dagster", [])) >= count:
            return
        time.sleep(1)
    raise RuntimeError(f"{count} workers did not come up")


class _databases:
    """Throw-away PostgreSQL databases, dropped on exit."""

    def __init__(self, count: int):
        self.names = [f"celery_bench_{uuid.uuid4().hex[:8]}" for _ in range(count)]
        self.admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")

    def __enter__(self):
        with self.admin.connect() as connection:
            for name in self.names:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        base = sa.make_url(PG_ADMIN)
        return [base.set(database=name).render_as_string(hide_password=False) for name in self.names]

    def __exit__(self, *exc):
        with self.admin.connect() as connection:
            for name in self.names:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
