"""Every line of the speed targets, each with its baseline measured in the same run: one command, one table.

The figures come from the project's own benchmarks, run one after another as child processes that
write JSON (each pairs its export with its baseline in interleaved rounds; see benchmarks/README.md):

    part    script                    lines of the table
    text    export_bench.py, 1M       CSV, JSON Lines vs psql \\copy; Parquet vs DuckDB; sorted vs unsorted;
                                      the 1M peak memory
    big     export_bench.py, 10M      CSV with parallel readers vs psql; sorted vs unsorted; 10M / 1M peak memory
    xlsx    xlsx_bench.py --whole     the CLI's whole process vs a plain psycopg + XlsxWriter script, 300k rows
    pdf     pdf_bench.py              the PDF renderer vs the one it replaced, 100k rows
    cli     cli_bench.py              the whole `export-pipelines export` process vs psql \\copy, CSV 1M
    small   graphql_latency_bench.py  a 1,000-row export through GraphQL on the shipped dagster.yaml, p50 / p95
    celery  celery_bench.py           10M rows on 2 Celery workers vs 1

PostgreSQL databases of 1M and 10M demo orders are seeded once into throw-away databases (dropped at
the end) unless ``--pg-1m`` / ``--pg-10m`` name databases that already hold exactly that many orders.
A part that fails is reported as such and the others still run. Nothing is asserted: the table says
which targets hold on this machine, now.

    .venv/bin/python benchmarks/targets_bench.py                           # everything, ~40 min on 2 cores
    .venv/bin/python benchmarks/targets_bench.py --parts text cli         # some lines
    .venv/bin/python benchmarks/targets_bench.py --quick                   # a tenth of the rows, one round
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from export_bench import settle_source

HERE = Path(__file__).resolve().parent
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PARTS = ("text", "big", "xlsx", "pdf", "cli", "small", "celery")


@dataclass
class Line:
    """One line of the table: a figure, the baseline it is divided by, and the target for the ratio."""

    work: str
    figure: str
    baseline: str
    ratio: float | None
    target: float
    note: str = ""

    @property
    def met(self) -> str:
        return "-" if self.ratio is None else ("yes" if self.ratio <= self.target else "no")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each paired benchmark (default 3)")
    parser.add_argument("--big-repeat", type=int, default=1, help="rounds of the 10M-row parts (default 1)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, small runs 5, one round each")
    parser.add_argument("--pg-1m", help="a database that already holds the 1M (--quick: 100k) demo orders")
    parser.add_argument("--pg-10m", help="a database that already holds the 10M (--quick: 1M) demo orders")
    parser.add_argument("--json-out", type=Path, help="also write the table and every part's figures as JSON")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    args.rows_1m, args.rows_10m = 1_000_000 // scale, 10_000_000 // scale
    args.rows_xlsx, args.rows_pdf = 300_000 // scale, 100_000 // scale
    args.small_runs = 5 if args.quick else 20
    if args.quick:
        args.repeat = args.big_repeat = 1
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class SeededDatabases:
    """The 1M and 10M databases: given ones as they are, else seeded once here and dropped at the end."""

    def __init__(self, args):
        self.args, self.created, self.urls = args, [], {}

    def url(self, rows: int, given: str | None) -> str:
        if given:
            return given
        if rows not in self.urls:
            name = f"targets_bench_{uuid.uuid4().hex[:8]}"
            _admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            url = sa.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
            started = time.perf_counter()
            from export_pipelines.demo.seed import seed_demo

            seed_demo(url, rows=rows)
            settle_source("postgresql", url)
            log(f"seeded {rows:,} orders in {name} in {time.perf_counter() - started:.0f} s (not in the figures)")
            self.urls[rows] = url
        return self.urls[rows]

    def drop(self) -> None:
        for name in self.created:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(statement: str) -> None:
    engine = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def run_script(script: str, argv: list[str], json_out: Path | None, timeout: float = 5400) -> dict:
    """Run ``benchmarks/script`` with ``argv``; its JSON (from ``json_out``, else its stdout)."""
    command = [sys.executable, str(HERE / script), *argv, *(["--json-out", str(json_out)] if json_out else [])]
    log(f"running {' '.join(command[1:])}")
    done = subprocess.run(command, cwd=HERE.parent, stdout=subprocess.PIPE, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{script} exited with {done.returncode}")
    return json.loads(json_out.read_text() if json_out else done.stdout)


def _case(figures: dict, fmt: str, rows: int) -> dict:
    return next(c for c in figures["cases"] if c["format"] == fmt and c["rows"] == rows)


def _psql(figures: dict, rows: int) -> float:
    return next(b["median_seconds"] for b in figures["baselines"] if b["rows"] == rows and "psql" in b["label"])


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def text_part(args, databases, work) -> tuple[list[Line], dict]:
    rows = args.rows_1m
    figures = run_script("export_bench.py", [
        "--rows", str(rows), "--sources", "postgresql", "--formats", "csv", "jsonl", "parquet", "--sorted-too",
        "--repeat", str(args.repeat), "--pg-url", databases.url(rows, args.pg_1m), "--seeded",
    ], work / "text.json")  # fmt: skip
    psql, label = _psql(figures, rows), f"{rows:,}"
    csv, jsonl, parquet = (_case(figures, fmt, rows) for fmt in ("csv", "jsonl", "parquet"))
    duckdb = parquet["duckdb"]["median_seconds"]
    sorted_csv = _case(figures, "csv/sorted", rows)
    lines = [
        Line(f"CSV {label}, in-run vs psql \\copy", _seconds(csv["median_seconds"]), _seconds(psql),
             csv["median_seconds"] / psql, 1.0),
        Line(f"JSONL {label} vs psql \\copy", _seconds(jsonl["median_seconds"]), _seconds(psql),
             jsonl["median_seconds"] / psql, 1.5),
        Line(f"Parquet {label} vs DuckDB (pg -> parquet)", _seconds(parquet["median_seconds"]), _seconds(duckdb),
             parquet["median_seconds"] / duckdb, 1.0),
        Line(f"sort on an unindexed column vs unsorted, CSV {label}", _seconds(sorted_csv["median_seconds"]),
             _seconds(csv["median_seconds"]), sorted_csv["median_seconds"] / csv["median_seconds"], 1.2),
    ]  # fmt: skip
    return lines, {"peak_rss_mb": csv["peak_rss_mb"], "export_bench": figures}


def big_part(args, databases, work, small_peak: float | None) -> tuple[list[Line], dict]:
    rows = args.rows_10m
    figures = run_script("export_bench.py", [
        "--rows", str(rows), "--sources", "postgresql", "--formats", "csv", "--sorted-too", "--no-duckdb",
        "--repeat", str(args.big_repeat), "--pg-url", databases.url(rows, args.pg_10m), "--seeded",
    ], work / "big.json")  # fmt: skip
    psql, label = _psql(figures, rows), f"{rows:,}"
    csv, sorted_csv = _case(figures, "csv", rows), _case(figures, "csv/sorted", rows)
    readers = os.environ.get("EXPORT_PARALLEL_READERS", "default")
    lines = [
        Line(f"CSV {label}, parallel readers ({readers}) vs psql \\copy", _seconds(csv["median_seconds"]),
             _seconds(psql), csv["median_seconds"] / psql, 0.8),
        Line(f"sort on an unindexed column vs unsorted, CSV {label}", _seconds(sorted_csv["median_seconds"]),
             _seconds(csv["median_seconds"]), sorted_csv["median_seconds"] / csv["median_seconds"], 1.2),
    ]  # fmt: skip
    peak = csv["peak_rss_mb"]
    if small_peak:
        under = "yes" if peak < 250 else "no"
        lines.append(Line(f"peak memory, CSV {label} / {args.rows_1m:,}", f"{peak:.0f} MB", f"{small_peak:.0f} MB",
                          peak / small_peak, 1.05, note=f"target also < 250 MB: {under}"))  # fmt: skip
    return lines, {"export_bench": figures}


def xlsx_part(args, databases, work) -> tuple[list[Line], dict]:
    figures = run_script("xlsx_bench.py", ["--writers", "--no-split-check", "--whole", str(args.rows_xlsx),
                                           "--whole-repeat", str(args.repeat)], work / "xlsx.json")  # fmt: skip
    runs = figures["whole"][0]["runs"]
    cli, plain = (statistics.median(r["seconds"] for r in runs[kind]) for kind in ("cli", "plain"))
    cpu = statistics.median(r["cpu"] for r in runs["cli"]) / statistics.median(r["cpu"] for r in runs["plain"])
    return [Line(f"XLSX {args.rows_xlsx:,}, whole CLI process vs plain XlsxWriter script", _seconds(cli),
                 _seconds(plain), cli / plain, 0.3, note=f"CPU {cpu:.2f}x")], figures  # fmt: skip


def pdf_part(args, databases, work) -> tuple[list[Line], dict]:
    figures = run_script("pdf_bench.py", ["--rows", str(args.rows_pdf), "--repeat", str(max(args.repeat, 2))],
                         work / "pdf.json")  # fmt: skip
    runs = figures["cases"][0]["runs"]
    new, previous = (statistics.median(r["seconds"] for r in runs[name]) for name in ("new", "previous"))
    cpu = statistics.median(r["cpu_seconds"] for r in runs["new"]) / statistics.median(
        r["cpu_seconds"] for r in runs["previous"]
    )
    return [Line(f"PDF {args.rows_pdf:,}, renderer vs the one it replaced", _seconds(new), _seconds(previous),
                 new / previous, 0.5, note=f"CPU {cpu:.2f}x")], figures  # fmt: skip


def cli_part(args, databases, work) -> tuple[list[Line], dict]:
    figures = run_script("cli_bench.py", ["--pg-url", databases.url(args.rows_1m, args.pg_1m), "--no-nopyc",
                                          "--repeat", str(args.repeat)], work / "cli.json")  # fmt: skip
    cli, psql = figures["medians"]["cli"]["seconds"], figures["medians"]["psql"]["seconds"]
    return [Line(f"whole CLI process, CSV {args.rows_1m:,} vs psql \\copy", _seconds(cli), _seconds(psql),
                 cli / psql, 2.0)], figures  # fmt: skip


def small_part(args, databases, work) -> tuple[list[Line], dict]:
    figures = run_script("graphql_latency_bench.py", ["--modes", "dev", "--runs", str(args.small_runs), "--json"],
                         None)  # fmt: skip
    summary = figures["modes"][0]["summary"]["file"]
    note = "absolute targets: p50 <= 1.5 s, p95 <= 3 s"
    return [
        Line("small export (1,000 rows) to file ready, p50", _seconds(summary["p50"]), "1.50 s (target)",
             summary["p50"] / 1.5, 1.0, note=note),
        Line("small export (1,000 rows) to file ready, p95", _seconds(summary["p95"]), "3.00 s (target)",
             summary["p95"] / 3.0, 1.0),
    ], figures  # fmt: skip


def celery_part(args, databases, work) -> tuple[list[Line], dict]:
    rows = args.rows_10m
    argv = ["--rows", str(rows), "--cases", "celery-1", "celery-2", "--repeat", str(args.big_repeat),
            "--pg-url", databases.url(rows, args.pg_10m), "--seeded"]  # fmt: skip
    figures = run_script("celery_bench.py", argv, work / "celery.json")
    one, two = (statistics.median(r["seconds"] for r in figures["results"][case]["runs"])
                for case in ("celery-1", "celery-2"))  # fmt: skip
    return [Line(f"{rows:,} rows on 2 Celery workers vs 1", _seconds(two), _seconds(one), two / one, 0.999,
                 note="target: faster")], figures  # fmt: skip


def measure(args, databases, work) -> tuple[list[Line], dict, list[str]]:
    parts: dict[str, Callable] = {"xlsx": xlsx_part, "pdf": pdf_part, "cli": cli_part, "small": small_part,
                                  "celery": celery_part}  # fmt: skip
    lines, figures, failed, small_peak = [], {}, [], None
    for part in args.parts:
        load = os.getloadavg()[0]
        try:
            if part == "text":
                found, figures[part] = text_part(args, databases, work)
                small_peak = figures[part]["peak_rss_mb"]
            elif part == "big":
                found, figures[part] = big_part(args, databases, work, small_peak)
            else:
                found, figures[part] = parts[part](args, databases, work)
        except Exception as error:  # one part failing leaves the others' lines
            log(f"{part}: failed: {error}")
            failed.append(f"{part}: {error}")
            continue
        for line in found:
            line.note = f"{line.note}; load {load:.1f}" if line.note else f"load {load:.1f}"
        lines.extend(found)
    return lines, figures, failed


def print_table(lines: list[Line], failed: list[str]) -> None:
    print(f"\nSpeed targets, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}; each figure's baseline was "
          f"measured in the same run (medians; load = 1-min load average when the part started)\n")  # fmt: skip
    print("| work | figure | baseline | ratio | target | met | notes |")
    print("|---|---|---|---|---|---|---|")
    for line in lines:
        ratio = "-" if line.ratio is None else f"{line.ratio:.2f}x"
        print(f"| {line.work} | {line.figure} | {line.baseline} | {ratio} | <= {line.target:g}x | {line.met} | "
              f"{line.note} |")  # fmt: skip
    for failure in failed:
        print(f"| {failure} | | | | | failed | |")


def main(argv=None) -> int:
    args = parse_args(argv)
    databases = SeededDatabases(args)
    with tempfile.TemporaryDirectory(prefix="targets_bench_") as folder:
        try:
            lines, figures, failed = measure(args, databases, Path(folder))
        finally:
            databases.drop()
    print_table(lines, failed)
    if args.json_out:
        table = [{**vars(line), "met": line.met} for line in lines]
        args.json_out.write_text(json.dumps({"table": table, "failed": failed, "parts": figures}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
