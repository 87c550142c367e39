"""Where does a large export's time go on each executor, and what does Celery dispatch cost?

One run of this script seeds N orders (default 1,000,000) in a throw-away PostgreSQL database
(or, with ``--pg-url URL --seeded``, exports a database already holding exactly N demo orders, as
it is), starts its own redis-server and runs the same CSV export with: in_process, multiprocess,
celery with 1 worker and celery with 2 workers (each worker one process, -c 1). Every export is the
real CLI in a fresh process against a PostgreSQL-backed Dagster instance, as in a deployment.

The cases are paired: each round runs every case once, in turn (workers started before and stopped
after each case's run, outside its time), so a case and its baseline share the machine's load.
It prints, per executor, the median wall time, the CPU seconds of the export command and of the
Celery workers (median; the database server's own CPU is not counted), the time per step kind,
the load average at the start of the runs and, for Celery, the dispatch latency: from
"Submitting celery task" to the step starting on a worker.

    .venv/bin/python benchmarks/celery_bench.py                 # 1M rows, ~10 min on 2 cores
    .venv/bin/python benchmarks/celery_bench.py --rows 200000 --repeat 1
    .venv/bin/python benchmarks/celery_bench.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_10m \
        --seeded --rows 10000000 --cases celery-1 celery-2

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
    parser.add_argument(
        "--pg-url", help="with --seeded: the source database, read only (default: a seeded scratch one)"
    )
    parser.add_argument(
        "--seeded",
        action="store_true",
        help="--pg-url already holds exactly --rows demo orders: export them as they are",
    )
    args = parser.parse_args(argv)
    if bool(args.pg_url) != args.seeded:
        parser.error("--pg-url and --seeded go together")

    with (
        tempfile.TemporaryDirectory(prefix="celery_bench_") as folder,
        _databases(1 if args.seeded else 2) as scratch,
    ):
        source, dagster_db = (args.pg_url, *scratch) if args.seeded else scratch
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
            "EXPORT_MAX_ROWS": str(max(args.rows, 5_000_000)),  # the default cap would refuse 10M rows
        }
        os.environ.update(env)
        try:
            _prepare_source(source, args)
            results = {case: {"runs": []} for case in args.cases}
            for _ in range(args.repeat):
                for case in args.cases:
                    results[case]["runs"].append(_measure(case, args, env, Path(folder)))
        finally:
            redis.terminate()
    _report(results, args)
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    return 0


def _prepare_source(source: str, args) -> None:
    if not args.seeded:
        from export_pipelines.demo.seed import seed_demo

        started = time.perf_counter()
        seed_demo(source, rows=args.rows)
        print(f"seeded {args.rows:,} orders in {time.perf_counter() - started:.1f} s", flush=True)
        return
    engine = sa.create_engine(source)
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
    engine.dispose()
    if count != args.rows:
        raise SystemExit(f"--seeded: {source} holds {count:,} orders, not {args.rows:,}")


def _measure(case: str, args, env: dict, folder: Path) -> dict:
    """One run of ``case``: wall seconds, CPU seconds of the command and of the workers, steps, load."""
    executor, _, count = case.partition("-")
    workers = [_start_worker(f"w{i}", env, folder) for i in range(int(count or 0))]
    try:
        if workers:
            _wait_for_workers(env["EXPORT_CELERY_BROKER_URL"], len(workers))
        load = os.getloadavg()[0]
        workers_cpu, command_cpu = _group_cpu(workers), _children_cpu()
        began = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "export-pipelines"), "export", "--user", "admin", "--dataset", "orders", "--format", "csv",
             "--chunk-size", str(args.chunk_size), "--executor", executor, "--json"],
            env=env, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        seconds = time.perf_counter() - began
        command_cpu, workers_cpu = _children_cpu() - command_cpu, _group_cpu(workers) - workers_cpu
        result = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {"status": done.stderr[-500:]}
        if result.get("status") != "SUCCESS":  # a failed run's seconds measure nothing
            raise SystemExit(f"{case}: the export did not succeed: {result.get('status')} {done.stderr[-2000:]}")
        print(f"{case}: {seconds:.1f} s, cpu {command_cpu:.1f} + {workers_cpu:.1f} s, load {load:.1f}, "
              f"{result.get('status')}", flush=True)  # fmt: skip
        steps = _step_times(result.get("run_id"))
        return {"seconds": seconds, "cpu": command_cpu, "workers_cpu": workers_cpu, "load": load, **steps}
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


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the export command and what it waited for)."""
    usage = os.times()
    return usage.children_user + usage.children_system


def _group_cpu(workers: list[subprocess.Popen]) -> float:
    """CPU seconds so far of every live process in the workers' process groups (a worker and its pool)."""
    groups, ticks = {worker.pid for worker in workers}, os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[2]) in groups:  # pgrp; utime and stime follow
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _report(results: dict, args) -> None:
    baseline = statistics.median(r["seconds"] for r in results[next(iter(results))]["runs"])
    print(f"\n{args.rows:,} rows, csv, chunk_size {args.chunk_size:,}, median of {args.repeat}, paired rounds")
    print(f"{'executor':<14}{'seconds':>9}{'rows/s':>10}{'ratio':>7}{'cpu cmd':>9}{'cpu wrk':>9}{'load':>6}"
          f"  step seconds (summed){'':<44} dispatch median")  # fmt: skip
    for case, result in results.items():
        seconds = statistics.median(r["seconds"] for r in result["runs"])
        cpu, workers_cpu, load = (
            statistics.median(r[key] for r in result["runs"]) for key in ("cpu", "workers_cpu", "load")
        )
        steps = result["runs"][-1].get("steps", {})
        spread = " ".join(f"{k}={v:.1f}" for k, v in steps.items())
        dispatch = [d for r in result["runs"] for d in r.get("dispatch", [])]
        latency = f"{statistics.median(dispatch) * 1000:.0f} ms (n={len(dispatch)})" if dispatch else "-"
        rate = args.rows / seconds
        print(f"{case:<14}{seconds:>9.1f}{rate:>10,.0f}{seconds / baseline:>7.2f}{cpu:>9.1f}{workers_cpu:>9.1f}"
              f"{load:>6.1f}  {spread:<66} {latency}")  # fmt: skip


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
