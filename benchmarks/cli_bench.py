"""How long does a whole ``export-pipelines export`` process take, next to ``psql \\copy`` of the same rows?

A PostgreSQL database of ``--rows`` demo orders is seeded (or ``--pg-url`` is used as it is), then, in
``--repeat`` interleaved rounds (every other round in reverse order), each variant runs once:

    psql        psql \\copy (SELECT every column ORDER BY order_id) TO a file WITH CSV HEADER
    cli         export-pipelines export --user admin --dataset orders --format csv, the whole process:
                imports, instance, gate, run creation, the run, the audit record and its link
    cli-nopyc   the same without compiled bytecode (PYTHONPYCACHEPREFIX at an empty folder): as an install
                that wrote no .pyc files runs (uv without --compile-bytecode, PYTHONDONTWRITEBYTECODE=1)
    base        with --base DIR: the same command from the source tree DIR (a checkout of an earlier commit,
                put first on PYTHONPATH), without bytecode: "today", measured in the same session

Each export variant has its own instance (``EXPORT_DATA_DIR``), made by one untimed export first, as an
operator's instance exists before the command they time; its files are deleted after each export. Wall
seconds and the CPU seconds (user + system) of each child are recorded; medians and the ratio of each
median to psql's are printed. The CPU figure moves less than the wall time on a busy machine.

    .venv/bin/python benchmarks/cli_bench.py                              # 1M rows, 3 rounds
    .venv/bin/python benchmarks/cli_bench.py --rows 100000 --repeat 1     # a quick look
    git worktree add /tmp/before <commit> && .venv/bin/python benchmarks/cli_bench.py --base /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from export_bench import (
    DATASET,
    USER,
    baseline_command,
    drop_database,
    log,
    prepare_postgres,
    settle_source,
)

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.demo.seed import seed_demo

EXPORT = ["-m", "export_pipelines.cli", "export", "--user", USER, "--dataset", DATASET, "--format", "csv", "--json"]
# A developer's shell settings that would change what is measured.
CLEARED = ("DAGSTER_HOME", "EXPORT_STORAGE_URL", "EXPORT_CATALOG_PATH", "EXPORT_MAX_ROWS", "SMTP_HOST", "PYTHONPATH",
           "PYTHONPYCACHEPREFIX")  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="orders to seed (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; the median is reported (default 3)")
    parser.add_argument("--pg-url", help="an already seeded database to export from (its orders are used as they are)")
    parser.add_argument("--base", type=Path, help="a source tree of an earlier commit, measured as variant 'base'")
    parser.add_argument("--no-nopyc", action="store_true", help="leave out the cli-nopyc variant")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    return parser.parse_args(argv)


def timed(command: list[str], env: dict, cwd: Path, timeout: float) -> dict:
    """Run ``command``; its wall seconds, the CPU seconds of it and its children, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        code, error = done.returncode, done.stderr[-2000:]
    except subprocess.TimeoutExpired:
        code, error = -9, f"killed after {timeout:.0f} s"
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu_seconds": cpu, "returncode": code, "error": error if code else ""}


class ExportVariant:
    """One way of running the command: its environment, its own instance folder."""

    def __init__(self, name: str, url: str, work: Path, extra: dict[str, str]):
        self.name, self.folder = name, work / name
        self.folder.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        self.env.update(EXPORT_SOURCE_DB_URL=url, EXPORT_DATA_DIR=str(self.folder / "var"),
                        EXPORT_STORAGE_URL=str(self.folder / "exports"), DAGSTER_DISABLE_TELEMETRY="1")  # fmt: skip
        self.env.update(extra)

    def run(self, timeout: float) -> dict:
        result = timed([sys.executable, *EXPORT], self.env, self.folder, timeout)
        shutil.rmtree(self.folder / "exports", ignore_errors=True)
        if result["returncode"]:
            raise RuntimeError(f"{self.name}: exited {result['returncode']}: {result['error']}")
        return result


def variants(url: str, work: Path, args) -> list:
    """(name, run-once function) of every variant, psql first."""
    columns = list(load_catalog().dataset(DATASET).columns)
    output = work / "psql.csv"
    label, argv, extra = baseline_command("postgresql", url, columns, output)

    def psql() -> dict:
        result = timed(argv, {**os.environ, **extra}, work, args.timeout)
        output.unlink(missing_ok=True)
        return result

    empty = work / "no-bytecode"  # stays empty: nothing is written with PYTHONDONTWRITEBYTECODE
    no_bytecode = {"PYTHONPYCACHEPREFIX": str(empty), "PYTHONDONTWRITEBYTECODE": "1"}
    chosen = [("cli", {}), *([] if args.no_nopyc else [("cli-nopyc", no_bytecode)])]
    if args.base:
        chosen.append(("base", {**no_bytecode, "PYTHONPATH": str(args.base.resolve())}))
    exports = [ExportVariant(name, url, work, extra) for name, extra in chosen]
    return [("psql", psql)] + [(v.name, lambda v=v: v.run(args.timeout)) for v in exports]


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cli_bench_"))
    url, created = prepare_postgres(args.pg_url)
    if url is None:
        return 1
    try:
        if not args.pg_url:
            log(f"seeding {args.rows:,} orders")
            seed_demo(url, rows=args.rows)
        settle_source("postgresql", url)
        runs = variants(url, work, args)
        log("warm-up (not in the figures): page cache, each variant's instance")
        for _, run in runs:
            run()
        figures = {name: [] for name, _ in runs}
        for round_ in range(args.repeat):
            for name, run in runs if round_ % 2 == 0 else runs[::-1]:
                figures[name].append(run())
                log(f"round {round_ + 1}/{args.repeat} {name}: {figures[name][-1]['seconds']:.2f} s wall, "
                    f"{figures[name][-1]['cpu_seconds']:.2f} s CPU (load {os.getloadavg()[0]:.1f})")  # fmt: skip
        report(figures, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created:
            drop_database(created)
    return 0


def report(figures: dict, args) -> None:
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in ("seconds", "cpu_seconds")}
               for name, runs in figures.items()}  # fmt: skip
    psql = medians["psql"]["seconds"]
    rows = f"the orders at {args.pg_url}" if args.pg_url else f"{args.rows:,} orders"
    print(f"\nWhole process, CSV of {rows} from PostgreSQL, median of {args.repeat} interleaved rounds, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the end\n")  # fmt: skip
    print(f"{'variant':<10} {'wall s':>8} {'CPU s':>8} {'vs psql':>8}")
    for name, median in medians.items():
        print(f"{name:<10} {median['seconds']:>8.2f} {median['cpu_seconds']:>8.2f} {median['seconds'] / psql:>7.2f}x")
    if args.json_out:
        args.json_out.write_text(json.dumps({"medians": medians, "runs": figures}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
