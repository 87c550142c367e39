"""Whole processes, PostgreSQL to .xlsx: a plain psycopg + XlsxWriter script against ``export-pipelines export``.

What a user would write instead of the platform (``plain_script``): one psycopg connection with the
session in the request's time zone, a server-side cursor, XlsxWriter's constant_memory mode writing the
same cell types and number formats, a bold frozen header and an autofilter. Against it, in the same
rounds (the order alternates):

- ``cli``: ``export-pipelines export --format xlsx --json`` as a user runs it (interpreter start,
  imports, instance, the gate, the run, the encrypted file), timed by the parent as a whole;
- ``in-run``: the same export in ``bench_child.py`` (``execute_in_process``), which reports the run's
  own time (``execute s``), the render step's (``render s``) and its peak memory.

Peak memory of the plain script and the CLI is the child's ru_maxrss from ``wait4`` (Linux carries the
parent's over exec, so it is a floor of the parent's, about 100 MB here).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BIN = Path(sys.executable).parent
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NUMBER_FORMATS = {"integer": "0", "decimal": "#,##0.00", "date": "yyyy-mm-dd", "timestamp": "yyyy-mm-dd hh:mm:ss.000"}


def plain_script(url: str, output: str, timezone: str) -> dict:
    """The baseline, run as its own process: every import is inside, as in a script of its own."""
    import psycopg

    from export_pipelines.datasets.catalog import load_catalog

    columns = list(load_catalog().dataset("orders").columns.values())
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as connection:
        connection.execute(f"SET TimeZone = '{timezone}'")
        with connection.cursor(name="orders") as cursor:
            cursor.itersize = 10_000
            cursor.execute(f"SELECT {', '.join(c.name for c in columns)} FROM orders ORDER BY order_id")
            rows = xlsxwriter_rows(cursor, columns, output)
    return {"rows": rows, "bytes": os.path.getsize(output)}


def xlsxwriter_rows(rows, columns, output: str) -> int:
    """The plainest XlsxWriter constant_memory loop over ``rows`` (tuples): the cells' own types and number
    formats, a bold frozen header, an autofilter. Aware datetimes keep their wall-clock time."""
    import xlsxwriter

    book = xlsxwriter.Workbook(output, {"constant_memory": True, "remove_timezone": True})
    sheet = book.add_worksheet("Orders")
    bold = book.add_format({"bold": True})
    formats = [book.add_format({"num_format": NUMBER_FORMATS[c.type]}) if c.type in NUMBER_FORMATS else None
               for c in columns]  # fmt: skip
    methods = {"string": sheet.write_string, "boolean": sheet.write_boolean, "date": sheet.write_datetime,
               "timestamp": sheet.write_datetime}  # fmt: skip
    writers = [(i, methods.get(c.type, sheet.write_number), formats[i]) for i, c in enumerate(columns)]
    decimals = [c.type == "decimal" for c in columns]
    for index, column in enumerate(columns):
        sheet.write_string(0, index, column.label, bold)
    sheet.freeze_panes(1, 0)
    row = 1
    for cells in rows:
        for (index, method, cell_format), value, decimal in zip(writers, cells, decimals):
            if value is not None:
                method(row, index, float(value) if decimal else value, cell_format)
        row += 1
    sheet.autofilter(0, 0, row - 1, len(columns) - 1)
    book.close()
    return row - 1


def timed(command: list[str], env: dict | None = None) -> dict:
    """Wall time and peak memory of one child process (wait4: that child's own rusage, not the sum of all)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise RuntimeError(f"{command[:3]} exited {process.returncode}: {err.read().decode()[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return {"seconds": seconds, "cpu": cpu, "stdout": out.read().decode(), "peak_rss_mb": usage.ru_maxrss / 1024}


def make_source(rows: int) -> tuple[str, str]:
    """A fresh database with ``rows`` demo orders, vacuumed and checkpointed; (URL, name)."""
    import sqlalchemy as sa

    from export_pipelines.demo.seed import seed_demo

    name = f"xlsx_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    seed_demo(url, rows=rows)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("VACUUM (FREEZE, ANALYZE)")
        connection.exec_driver_sql("CHECKPOINT")
    engine.dispose()
    admin.dispose()
    return url, name


def drop_source(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def compare(script: str, rows: int, repeat: int, timezone: str, chunk_size: int, log) -> dict:
    """Rounds of plain script, CLI and in-run export on ``rows`` seeded orders; every figure of every round."""
    from export_bench import CHILD, CLEARED_ENV  # the export benchmark's child and its environment rules

    url, name = make_source(rows)
    log(f"seeded {rows:,} orders in PostgreSQL ({name})")
    work = Path(tempfile.mkdtemp(prefix="xlsx-whole-"))
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(EXPORT_SOURCE_DB_URL=url, EXPORT_DATA_DIR=str(work / "var"), EXPORT_STORAGE_URL=str(work / "files"),
               DAGSTER_HOME=str(work / "home"), DAGSTER_DISABLE_TELEMETRY="1")  # fmt: skip
    (work / "home").mkdir()
    cli = [str(BIN / "export-pipelines"), "export", "--user", "admin", "--dataset", "orders", "--format", "xlsx",
           "--timezone", timezone, "--chunk-size", str(chunk_size), "--json"]  # fmt: skip
    child = [sys.executable, str(CHILD), json.dumps({"user": "admin", "dataset": "orders", "format": "xlsx",
                                                     "chunk_size": chunk_size, "timezone": timezone})]  # fmt: skip
    plain = [sys.executable, script, "--child", json.dumps(["plain", url, str(work / "plain.xlsx"), timezone])]
    runs: dict[str, list] = {"plain": [], "cli": [], "in-run": []}
    try:
        timed(cli, env)  # warm-up: page cache, the instance's first run, the key files
        for attempt in range(repeat):
            order = ["plain", "cli", "in-run"] if attempt % 2 == 0 else ["in-run", "cli", "plain"]
            for kind in order:
                load = os.getloadavg()[0]
                run = timed({"plain": plain, "cli": cli, "in-run": child}[kind], env)
                run["load"] = load
                if kind == "in-run":
                    report = json.loads(run["stdout"].split("BENCH_RESULT ", 1)[1].splitlines()[0])
                    run.update(execute=report["execute_seconds"], peak_rss_mb=report["peak_rss_mb"])
                    for step in ("collect", "transform", "render"):
                        run[step] = sum(s["seconds"] for s in report["steps"] if s["kind"] == step)
                run.pop("stdout")
                runs[kind].append(run)
                log(
                    f"{kind} #{attempt + 1}: {run['seconds']:.2f} s, cpu {run['cpu']:.2f} s, "
                    f"peak {run['peak_rss_mb']:.0f} MB, load {load:.1f}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        drop_source(name)
    return {"rows": rows, "runs": runs}


def report(whole: dict) -> None:
    runs, rows = whole["runs"], whole["rows"]
    base = statistics.median(r["seconds"] for r in runs["plain"])
    cpu_base = statistics.median(r["cpu"] for r in runs["plain"])
    print(f"\nWhole processes, PostgreSQL -> xlsx, {rows:,} orders, median of {len(runs['plain'])} (interleaved):")
    print(f"{'contender':<46} {'median s':>9} {'min-max s':>15} {'vs plain':>9} {'cpu s':>7} {'cpu vs':>7} "
          f"{'peak MB':>8}")  # fmt: skip
    lines = [("plain psycopg + XlsxWriter constant_memory", "plain", "seconds"),
             ("export-pipelines export (CLI, whole process)", "cli", "seconds"),
             ("export_job in a child (whole process)", "in-run", "seconds"),
             ("  of it: the run (execute_in_process)", "in-run", "execute"),
             ("  of it: collect steps (read, stage)", "in-run", "collect"),
             ("  of it: transform steps", "in-run", "transform"),
             ("  of it: the render step", "in-run", "render")]  # fmt: skip
    for label, kind, key in lines:
        values = [r[key] for r in runs[kind]]
        median = statistics.median(values)
        whole_process = key == "seconds"
        cpu = statistics.median(r["cpu"] for r in runs[kind]) if whole_process else None
        peak = max(r["peak_rss_mb"] for r in runs[kind])
        print(f"{label:<46} {median:>9.2f} {min(values):>7.2f}-{max(values):<7.2f} {median / base:>8.2f}x "
              f"{f'{cpu:.2f}' if cpu else '':>7} {f'{cpu / cpu_base:.2f}x' if cpu else '':>7} "
              f"{f'{peak:.0f}' if whole_process else '':>8}")  # fmt: skip
    loads = [r["load"] for kind in runs.values() for r in kind]
    print(f"load average (1 min) before the runs: {min(loads):.1f} to {max(loads):.1f}")
