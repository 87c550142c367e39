"""How fast is a whole export, and how far is it from a plain database dump?

For each source (SQLite, PostgreSQL), row count and format, the real ``export_job`` runs end to end
(``execute_in_process``, in-process executor, an ephemeral instance) as user ``admin`` on every
column of ``orders``, each repetition in a fresh process so that peak memory is the export's own.
The same number of repetitions of a plain dump of the same rows (``psql \\copy``, ``sqlite3 -csv``)
is the baseline. Medians are printed; nothing is asserted: this script measures, it does not judge.

    .venv/bin/python benchmarks/export_bench.py                      # 100k and 1M rows, ~15-20 min
    .venv/bin/python benchmarks/export_bench.py --rows 20000 --repeat 1   # a quick look

See benchmarks/README.md for the options and how to read the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from bench_support import result_of

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.demo.seed import seed_demo
from export_pipelines.formats import registered_formats
from export_pipelines.settings import DEFAULT_MAX_ROWS

CHILD = Path(__file__).resolve().with_name("bench_child.py")
# Variants of an export, as suffixes of its format: storage unencrypted; rows read and encoded in the run
# instead of written by PostgreSQL (EXPORT_SERVER_TEXT=off); sorted on a column without an index.
PLAIN, ROWS, SORTED = "/plain", "/rows", "/sorted"
READERS = "/readers"  # FORMAT/readersN: EXPORT_PARALLEL_READERS=N
USER, DATASET = "admin", "orders"
STEP_KINDS = ("validate", "collect", "transform", "render", "upload", "notify")
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Settings a developer's shell may hold that would change what the child measures.
CLEARED_ENV = ("DAGSTER_HOME", "SMTP_HOST", "EXPORT_CATALOG_PATH", "EXPORT_MAX_ROWS", "EXPORT_STORAGE_URL",
               "EXPORT_SERVER_TEXT", "EXPORT_PARALLEL_READERS")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="row counts to seed")
    parser.add_argument("--formats", nargs="+", default=None, help="default: every registered format")
    parser.add_argument("--sources", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--chunk-size", type=int, default=100_000, help="the request's chunk_size")
    parser.add_argument("--pg-url", help="PostgreSQL database to seed (its demo tables are replaced); "
                        "default: a throw-away database on 127.0.0.1:5432, dropped at the end")
    parser.add_argument("--seeded", action="store_true",
                        help="--pg-url already holds exactly --rows demo orders: export them as they are")
    parser.add_argument("--keep-data", action="store_true", help="keep the seeded SQLite file and PostgreSQL database")
    parser.add_argument("--json-out", type=Path, help="also write every figure, per repetition, as JSON")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed")
    parser.add_argument("--plaintext-too", action="store_true",
                        help="also run each format with storage unencrypted (shown as FORMAT/plain): the cost of "
                        "encryption at rest, measured in the same rounds")
    parser.add_argument("--rows-path-too", action="store_true",
                        help="also run each format PostgreSQL can write itself (csv, jsonl) with "
                        "EXPORT_SERVER_TEXT=off (shown as FORMAT/rows): the run reads and encodes the rows, as the "
                        "renderer did before, in the same rounds")
    parser.add_argument("--sorted-too", action="store_true",
                        help="also run each format sorted on --sort-column (FORMAT/sorted), in the same rounds")
    parser.add_argument("--sort-column", default="customer_name",
                        help="a column without an index (default customer_name)")
    parser.add_argument("--readers", type=int, nargs="+", default=[],
                        help="also run each format with EXPORT_PARALLEL_READERS=N (FORMAT/readersN), in the same "
                        "rounds; 1 is one statement")
    parser.add_argument("--no-duckdb", action="store_true",
                        help="leave out the Parquet baseline: DuckDB 1.5.5 with its postgres extension writing the "
                        "same rows to Parquet (taken in every round when parquet and postgresql are measured)")
    args = parser.parse_args(argv)
    args.formats = args.formats or sorted(registered_formats())
    unknown = sorted(set(args.formats) - set(registered_formats()))
    if unknown:
        parser.error(f"unknown format(s) {', '.join(unknown)}; registered: {', '.join(sorted(registered_formats()))}")
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_process(command: list[str], *, env=None, stdout=None, stderr=None, timeout: float) -> dict:
    """Run ``command`` to completion; return its wall time and exit code (-9 when killed at ``timeout``).

    No memory figure here: the rusage of a child started from this process (wait4, RUSAGE_CHILDREN)
    includes this process's own peak, which Linux carries over fork and exec. The export child
    reports its own peak instead (see bench_child.peak_rss_mb).
    """
    started = time.perf_counter()
    try:
        code = subprocess.run(command, env=env, stdout=stdout or subprocess.DEVNULL, stderr=stderr,
                              timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        code = -9
    return {"seconds": time.perf_counter() - started, "returncode": code}


# ---- sources ---------------------------------------------------------------------------------

def prepare_postgres(pg_url: str | None) -> tuple[str | None, str | None]:
    """Return (URL to seed and export from, database to drop at the end); (None, None) if unreachable."""
    if pg_url:
        url = sa.make_url(pg_url)
        url = url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url
        return url.render_as_string(hide_password=False), None
    server = sa.make_url(PG_SERVER)
    name = f"export_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        log(f"PostgreSQL unavailable at {server.render_as_string()}: {error.orig}; skipping postgresql")
        return None, None
    finally:
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False), name


def _order_count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT count(*) FROM {DATASET}")).scalar_one()
    finally:
        engine.dispose()


def drop_database(name: str) -> None:
    admin = sa.create_engine(sa.make_url(PG_SERVER), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def baseline_command(source: str, url: str, columns: list[str], output: Path) -> tuple[str, list[str], dict]:
    """(label, argv, extra environment) of the plain dump the source's exports are compared with."""
    select = f"SELECT {', '.join(columns)} FROM {DATASET} ORDER BY order_id"
    parsed = sa.make_url(url)
    if source == "postgresql":
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parsed.host or "127.0.0.1",
                "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres", "-d", parsed.database,
                "-c", f"\\copy ({select}) TO '{output}' WITH CSV HEADER"]
        return "psql \\copy csv", argv, ({"PGPASSWORD": parsed.password} if parsed.password else {})
    return "sqlite3 -csv", ["sqlite3", "-csv", "-header", parsed.database, select], {}


def baseline_runner(source: str, url: str, columns: list[str], args, work: Path):
    """(label, run-once function) of the source's plain dump; None when its tool is not installed."""
    tool = "psql" if source == "postgresql" else "sqlite3"
    if shutil.which(tool) is None:
        log(f"{tool} not on PATH: no {source} baseline")
        return None
    output = work / f"baseline-{source}.csv"
    label, argv, extra = baseline_command(source, url, columns, output)

    def run_once() -> dict:
        with open(output, "wb") as sink:
            run = run_process(argv, env={**os.environ, **extra}, stdout=sink if source == "sqlite" else None,
                              timeout=args.timeout)
        run["bytes"] = output.stat().st_size if output.exists() else 0
        output.unlink(missing_ok=True)
        log(f"  baseline {label}: {run['seconds']:.2f} s, {run['bytes']:,} bytes, exit {run['returncode']}")
        return run

    return label, run_once


def summarize_baseline(label: str, runs: list[dict]) -> dict:
    ok = [r for r in runs if r["returncode"] == 0]
    return {
        "label": label,
        "runs": runs,
        "median_seconds": statistics.median(r["seconds"] for r in ok) if ok else None,
        "bytes": ok[-1]["bytes"] if ok else None,
    }


def settle_source(source: str, url: str) -> None:
    """Let a freshly seeded database come to rest before anything is timed.

    Right after a bulk load PostgreSQL still has work pending: the first reader of each page
    writes its hint bits, autovacuum starts on the new table, the checkpointer flushes. Whichever
    run comes first would pay for it. VACUUM (FREEZE, ANALYZE) and CHECKPOINT do it now instead.
    """
    if source != "postgresql":
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM (FREEZE, ANALYZE)")
            connection.exec_driver_sql("CHECKPOINT")
    finally:
        engine.dispose()


def measure_source(source: str, url: str, rows: int, columns: list[str], args, work: Path) -> tuple:
    """The baseline and every format, taken in turn within each repetition.

    Interleaving puts the baseline and the exports under the same conditions: a machine that
    slows down halfway (other work, thermal limits) shifts both, not just the ones measured last.
    One untimed warm-up of each comes first (page cache, first-use costs of the database).
    """
    settle_source(source, url)
    runner = baseline_runner(source, url, columns, args, work)
    duckdb = duckdb_runner(source, url, columns, args, work)
    log("  warm-up (not in the figures)")
    for warm_up in (runner, duckdb):
        if warm_up:
            warm_up[1]()
    variants = export_variants(args)
    for variant in variants:
        run_export_once(url, variant, args, work)
    baseline_runs, duckdb_runs, export_runs = [], [], {variant: [] for variant in variants}
    for repetition in range(args.repeat):
        log(f"  repetition {repetition + 1} of {args.repeat}")
        if runner:
            baseline_runs.append(runner[1]())
        if duckdb:
            duckdb_runs.append(duckdb[1]())
        # Every other round in reverse order, so that neither variant is always the one run second.
        for variant in variants if repetition % 2 == 0 else variants[::-1]:
            export_runs[variant].append(logged_export(variant, run_export_once(url, variant, args, work)))
    baseline = summarize_baseline(runner[0], baseline_runs) if runner else None
    cases = [summarize_export(source, rows, variant, export_runs[variant], baseline) for variant in variants]
    if duckdb:
        parquet_baseline = summarize_baseline(duckdb[0], duckdb_runs)
        for case in cases:
            if case["format"].split("/")[0] == "parquet" and case.get("median_seconds"):
                case["duckdb"] = parquet_baseline
    for case in cases:
        plain = next((c for c in cases if c["format"] == f"{case['format']}{PLAIN}"), None)
        if plain and case.get("median_seconds") and plain.get("median_seconds"):
            case["ratio_to_plaintext"] = case["median_seconds"] / plain["median_seconds"]
    return baseline, cases


def export_variants(args) -> list[str]:
    """Each format, then the variants asked for (see PLAIN, ROWS, SORTED)."""
    from export_pipelines.formats.base import ChunkEncodingRenderer

    variants = []
    for fmt in args.formats:
        renderer = registered_formats()[fmt]
        server_written = renderer.encodes_chunks and renderer.server_text is not ChunkEncodingRenderer.server_text
        # With --readers, FORMAT alone is one of them (the default count): it is not run twice.
        variants += [*([fmt] if not args.readers else []), *(f"{fmt}{READERS}{n}" for n in args.readers),
                     *([f"{fmt}{PLAIN}"] if args.plaintext_too else []),
                     *([f"{fmt}{ROWS}"] if args.rows_path_too and server_written else []),
                     *([f"{fmt}{SORTED}"] if args.sorted_too else [])]
    return variants


# ---- exports ---------------------------------------------------------------------------------

def child_env(url: str, folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(
        EXPORT_SOURCE_DB_URL=url,
        EXPORT_DATA_DIR=str(folder),
        EXPORT_STORAGE_URL=str(folder / "exports"),
        DAGSTER_DISABLE_TELEMETRY="1",
    )
    return env


def run_export_once(url: str, variant: str, args, work: Path) -> dict:
    """One export in a fresh process; the child's report plus its whole wall time (imports included).

    ``variant`` is a format, or ``FORMAT/plain`` for the same export with storage unencrypted.
    """
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    fmt = variant.split("/")[0]
    spec = {"user": USER, "dataset": DATASET, "format": fmt, "chunk_size": args.chunk_size,
            "plaintext": variant.endswith(PLAIN)}
    if variant.endswith(SORTED):
        spec["sort"] = args.sort_column
    env = child_env(url, folder)
    if variant.endswith(ROWS):
        env["EXPORT_SERVER_TEXT"] = "off"
    if READERS in variant:
        env["EXPORT_PARALLEL_READERS"] = variant.split(READERS)[1]
    if max(args.rows) > DEFAULT_MAX_ROWS:  # a large seeded database is exported whole, over the default cap
        env["EXPORT_MAX_ROWS"] = str(max(args.rows))
    load = os.getloadavg()[0]  # other work on the machine shows up in the figures; keep it on record
    try:
        with open(folder / "stdout", "w+") as out, open(folder / "stderr", "w+") as err:
            process = run_process([sys.executable, str(CHILD), json.dumps(spec)], env=env,
                                  stdout=out, stderr=err, timeout=args.timeout)
            out.seek(0)
            report = result_of(out.read())
            err.seek(0)
            tail = err.read()[-2000:]
        if report is None:
            return {"success": False, "child_seconds": process["seconds"],
                    "error": f"child exited {process['returncode']} without a result: {tail}"}
        report.update(child_seconds=process["seconds"], load_before=load)
        return report
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def steps_by_kind(report: dict) -> dict:
    """Seconds per step kind in one run, plus the run's time outside any step and its chunk count."""
    totals = {kind: 0.0 for kind in STEP_KINDS}
    for step in report.get("steps", []):
        totals[step["kind"]] = totals.get(step["kind"], 0.0) + step["seconds"]
    totals["outside_steps"] = report["execute_seconds"] - sum(s["seconds"] for s in report.get("steps", []))
    totals["chunks"] = sum(1 for s in report.get("steps", []) if s["kind"] == "transform")
    return totals


def logged_export(fmt: str, report: dict) -> dict:
    if report.get("success"):
        log(f"  {fmt}: {report['execute_seconds']:.2f} s in execute_in_process, {report['child_seconds']:.2f} s "
            f"whole child, peak RSS {report['peak_rss_mb']:.0f} MB, {report['bytes']:,} bytes")
    else:
        log(f"  {fmt}: FAILED: {report.get('error')}")
    return report


def summarize_export(source: str, rows: int, fmt: str, runs: list[dict], baseline) -> dict:
    ok = [r for r in runs if r.get("success")]
    case = {"source": source, "rows": rows, "format": fmt, "runs": runs, "failed_runs": len(runs) - len(ok)}
    if not ok:
        return case
    median = statistics.median(r["execute_seconds"] for r in ok)
    per_kind = [steps_by_kind(r) for r in ok]
    case.update(
        median_seconds=median,
        min_seconds=min(r["execute_seconds"] for r in ok),
        max_seconds=max(r["execute_seconds"] for r in ok),
        child_median_seconds=statistics.median(r["child_seconds"] for r in ok),
        rows_per_second=rows / median if median else None,
        peak_rss_mb=statistics.median(r["peak_rss_mb"] for r in ok),
        rss_before_mb=statistics.median(r["rss_before_mb"] for r in ok),
        bytes=ok[-1]["bytes"],
        exported_rows=ok[-1]["rows"],
        ratio_to_baseline=median / baseline["median_seconds"] if baseline and baseline["median_seconds"] else None,
        steps_median_seconds={key: statistics.median(k[key] for k in per_kind) for key in per_kind[0]},
    )
    return case


# ---- report ----------------------------------------------------------------------------------

def _num(value, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def print_tables(cases: list[dict], baselines: dict) -> None:
    header = (f"{'source':<10} {'rows':>9} {'format':<16} {'median s':>9} {'min-max s':>13} {'child s':>8} "
              f"{'rows/s':>10} {'peak RSS MB':>11} {'RSS@start':>9} {'output bytes':>13} {'vs baseline':>11}")
    print("\nEnd-to-end exports (median of repetitions; 'median s' is the execute_in_process call)\n")
    print(header)
    print("-" * len(header))
    encryption_costs = []
    for (source, rows), base in baselines.items():
        if base and base["median_seconds"] is not None:
            print(f"{source:<10} {rows:>9,} {base['label']:<16} {base['median_seconds']:>9.2f} {'':>13} {'':>8} "
                  f"{rows / base['median_seconds']:>10,.0f} {'':>11} {'':>9} "
                  f"{base['bytes']:>13,} {'1.00':>11}")
        for case in (c for c in cases if (c["source"], c["rows"]) == (source, rows)):
            if case.get("ratio_to_plaintext"):
                encryption_costs.append(f"{source} {rows:,} {case['format']}: {case['ratio_to_plaintext']:.3f}x")
            if "median_seconds" not in case:
                print(f"{source:<10} {rows:>9,} {case['format']:<16} {'FAILED':>9}  ({case['runs'][-1].get('error')})")
                continue
            spread = f"{case['min_seconds']:.2f}-{case['max_seconds']:.2f}"
            print(f"{source:<10} {rows:>9,} {case['format']:<16} {case['median_seconds']:>9.2f} {spread:>13} "
                  f"{case['child_median_seconds']:>8.2f} {_num(case['rows_per_second'], ',.0f'):>10} "
                  f"{case['peak_rss_mb']:>11.0f} {case['rss_before_mb']:>9.0f} {case['bytes']:>13,} "
                  f"{_num(case['ratio_to_baseline'], '.2f'):>11}")
    if encryption_costs:
        print("\nEncrypted vs the same export unencrypted (median / median): " + "; ".join(encryption_costs))
    pairs = paired_ratios(cases) + against_tools(cases, baselines)
    if pairs:
        print("\nPaired in the same rounds (median / median):\n")
        print("\n".join(pairs))
    kinds = (*STEP_KINDS, "outside_steps")
    header = f"{'source':<10} {'rows':>9} {'format':<7} " + " ".join(f"{k[:9]:>9}" for k in kinds) + f" {'chunks':>6}"
    print("\nWhere the time goes: seconds per step kind (sum over the run's steps, median of repetitions)\n")
    print(header)
    print("-" * len(header))
    for case in cases:
        steps = case.get("steps_median_seconds")
        if steps:
            print(f"{case['source']:<10} {case['rows']:>9,} {case['format']:<7} "
                  + " ".join(f"{steps.get(k, 0.0):>9.2f}" for k in kinds) + f" {steps['chunks']:>6.0f}")


def paired_ratios(cases: list[dict]) -> list[str]:
    """Each /rows and /sorted variant against its own format, same source and row count."""
    lines = []
    for case in cases:
        fmt, _, variant = case["format"].partition("/")
        if variant not in (ROWS[1:], SORTED[1:]) or "median_seconds" not in case:
            continue
        base = next((c for c in cases if (c["source"], c["rows"], c["format"]) == (case["source"], case["rows"], fmt)
                     and "median_seconds" in c), None)  # fmt: skip
        if base is None:
            continue
        where = f"{case['source']} {case['rows']:,}"
        if variant == ROWS[1:]:
            lines.append(f"{where} {fmt} written by the server {base['median_seconds']:.2f} s vs rows encoded in the "
                         f"run {case['median_seconds']:.2f} s: {base['median_seconds'] / case['median_seconds']:.2f}x")
        else:
            lines.append(f"{where} {fmt} sorted on an unindexed column {case['median_seconds']:.2f} s vs unsorted "
                         f"{base['median_seconds']:.2f} s: {case['median_seconds'] / base['median_seconds']:.2f}x")
    return lines


def against_tools(cases: list[dict], baselines: dict) -> list[str]:
    """Each export against what a user would pick instead: psql for the text formats, DuckDB for Parquet."""
    lines = []
    for case in cases:
        fmt = case["format"].split("/")[0]
        if case["source"] != "postgresql" or "median_seconds" not in case or fmt not in ("csv", "jsonl", "parquet"):
            continue
        tool = case.get("duckdb") if fmt == "parquet" else baselines.get((case["source"], case["rows"]))
        if tool and tool.get("median_seconds"):
            lines.append(f"postgresql {case['rows']:,} {case['format']} {case['median_seconds']:.2f} s vs "
                         f"{tool['label']} {tool['median_seconds']:.2f} s: "
                         f"{case['median_seconds'] / tool['median_seconds']:.2f}x")
    return lines


def duckdb_runner(source: str, url: str, columns: list[str], args, work: Path):
    """(label, run-once function) of DuckDB writing the export's rows to Parquet; None where not measured."""
    from duckdb_baseline import extension_file

    if source != "postgresql" or "parquet" not in args.formats or args.no_duckdb:
        return None
    if extension_file() is None:
        log("duckdb-extension-postgres is not installed (make .venv/bin/.installed): no Parquet baseline")
        return None
    output = work / "baseline-duckdb.parquet"
    argv = [sys.executable, str(CHILD.with_name("duckdb_baseline.py")), url, str(output), ",".join(columns)]
    label = "duckdb parquet"

    def run_once() -> dict:
        run = run_process(argv, stderr=subprocess.DEVNULL, timeout=args.timeout)
        run["bytes"] = output.stat().st_size if output.exists() else 0
        output.unlink(missing_ok=True)
        log(f"  baseline {label}: {run['seconds']:.2f} s, {run['bytes']:,} bytes, exit {run['returncode']}")
        return run

    return label, run_once


def environment(pg_url: str | None) -> dict:
    import dagster
    import pyarrow

    import export_pipelines

    info = {"export_pipelines": str(Path(export_pipelines.__file__).parent),  # which code was measured
            "python": platform.python_version(), "dagster": dagster.__version__, "pyarrow": pyarrow.__version__,
            "sqlalchemy": sa.__version__, "cpus": os.cpu_count(), "machine": platform.platform(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if pg_url:
        engine = sa.create_engine(pg_url)
        with engine.connect() as connection:
            info["postgresql"] = connection.exec_driver_sql("SHOW server_version").scalar()
        engine.dispose()
    if shutil.which("sqlite3"):
        info["sqlite3_cli"] = subprocess.run(["sqlite3", "-version"], capture_output=True, text=True).stdout.split()[0]
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    # `kill` should still drop the scratch database and the work folder (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    columns = load_catalog().dataset(DATASET).column_names
    work = Path(tempfile.mkdtemp(prefix="export_bench_"))
    urls = {"sqlite": f"sqlite:///{work / 'source.sqlite'}"} if "sqlite" in args.sources else {}
    scratch_db = None
    if "postgresql" in args.sources:
        pg_url, scratch_db = prepare_postgres(args.pg_url)
        if pg_url:
            urls["postgresql"] = pg_url
    seeds, baselines, cases = [], {}, []
    try:
        info = environment(urls.get("postgresql"))
        log(f"work folder {work}; sources {', '.join(urls)}; formats {', '.join(args.formats)}; rows "
            f"{', '.join(f'{r:,}' for r in args.rows)}; {args.repeat} repetition(s); chunk size {args.chunk_size:,}")
        for rows in args.rows:
            for source, url in urls.items():
                started = time.perf_counter()
                if not (args.seeded and source == "postgresql"):
                    seed_demo(url, rows=rows)
                elif _order_count(url) != rows:
                    raise SystemExit(f"--seeded: {url} does not hold {rows:,} orders")
                seeds.append({"source": source, "rows": rows, "seconds": time.perf_counter() - started})
                log(f"{source}, {rows:,} rows: seeded in {seeds[-1]['seconds']:.1f} s (not part of the figures)")
                baselines[(source, rows)], measured = measure_source(source, url, rows, columns, args, work)
                cases.extend(measured)
        print(f"\nexport_bench: {json.dumps(info)}")
        loads = [r["load_before"] for c in cases for r in c["runs"] if "load_before" in r]
        print(f"1-min, 5-min, 15-min load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
        print(f"settings: user={USER} dataset={DATASET} (all {len(columns)} columns), chunk_size={args.chunk_size:,}, "
              f"repeat={args.repeat}; 1-min load average before each export: {_num(min(loads, default=None), '.2f')} "
              f"to {_num(max(loads, default=None), '.2f')} on {os.cpu_count()} CPUs")
        print("seeding (not in the figures): "
              + ", ".join(f"{s['source']} {s['rows']:,} rows {s['seconds']:.1f} s" for s in seeds))
        print_tables(cases, baselines)
        if args.json_out:
            settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
            args.json_out.write_text(json.dumps({
                "environment": info, "settings": settings, "seeds": seeds,
                "baselines": [{"source": s, "rows": r, **(b or {})} for (s, r), b in baselines.items()],
                "cases": cases,
            }, indent=2))
            log(f"wrote {args.json_out}")
    finally:
        if args.keep_data:
            log(f"kept the seeded data: {', '.join(sa.make_url(u).render_as_string() for u in urls.values())}")
        else:
            if scratch_db:
                drop_database(scratch_db)
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
