"""How fast is the xlsx renderer, next to plain XlsxWriter and openpyxl writing the same cells?

The renderer alone: Arrow tables in, a file out, no Dagster and no database. The rows are the demo
``orders`` (all 13 columns, ``export_pipelines.demo.values``, seed 42), shaped as ``transform_chunk``
hands them over (timestamps in --timezone), staged once in an Arrow IPC file and read back one
--chunk-size batch at a time, as ``render_file`` reads staged chunks.

    .venv/bin/python benchmarks/xlsx_bench.py                  # 100k rows x 3, then the 1.1M-row split check
    .venv/bin/python benchmarks/xlsx_bench.py --rows 20000 --repeat 1 --no-split-check   # a quick look
    .venv/bin/python benchmarks/xlsx_bench.py --writers renderer xlsxwriter --no-split-check --whole 300000 1000000

Writers (each measurement in a fresh process that reports its own figures):

- ``renderer``: ``XlsxRenderer`` (sheet XML from Arrow kernels, deflated on threads; XlsxWriter for the
  rest of the workbook) with everything it does: the formula guard, exact-text fallbacks, sampled
  column widths, header, freeze panes, autofilter.
- ``xlsxwriter``: the baseline. The plainest XlsxWriter constant_memory loop that writes the same
  cell types and number formats (``to_pylist`` per column, then write_string / write_number /
  write_boolean / write_datetime per cell), a bold frozen header and an autofilter.
- ``openpyxl``: the same cells through openpyxl's write-only mode (``WriteOnlyCell`` with a number
  format for decimal, date and timestamp cells), a bold frozen header.
- ``rustpy``: rustpy-xlsxwriter fed the chunks as one Arrow stream (``xlsx_rustpy.py``), the
  candidate engine of issue 18. Not a project dependency: it runs only where it is installed.

``seconds`` runs from the first chunk read to the closed file (imports excluded); ``process s`` is
the whole child process as the parent waits for it (interpreter start, imports, the file); ``cpu s`` is the
process's user + system time over the same span, steadier than wall time on a busy machine. The
writers take turns (renderer, xlsxwriter, openpyxl, renderer, ...), so a busy spell is shared.
``vs xlsxwriter``, ``process vs`` and ``cpu vs`` divide the medians by the baseline's. Peak
memory is the child's own VmHWM (``bench_support.peak_rss_mb``; ru_maxrss is carried over fork and
exec on Linux); ``added MB`` is the peak minus the peak before the first chunk (the imports).
Nothing is asserted: this script measures, it does not judge.

``--probe N`` renders the first N demo rows (every pinned awkward value) with the renderer and with
rustpy and prints what openpyxl reads differently (``xlsx_rustpy.differences``).

``--whole ROWS...`` then seeds that many orders in a fresh PostgreSQL database (each count in turn) and
times whole processes in interleaved rounds: a plain psycopg + XlsxWriter constant_memory script, the
``export-pipelines export`` CLI, and the export in ``bench_child.py`` with its in-run figures
(``xlsx_process.py`` says what each covers).

The split check renders --split-rows rows (the staged file read as many times as needed) once and
reads the sheet names and each sheet's ``<dimension>`` from the first bytes of its XML, without
loading the workbook.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench_support import peak_rss_mb, run_self, script_main, stage_orders
from xlsx_process import NUMBER_FORMATS, compare, plain_script, xlsxwriter_rows
from xlsx_process import report as report_whole
from xlsx_rustpy import print_probe, probe, write_rustpy

WRITERS = ("renderer", "xlsxwriter", "openpyxl", "rustpy")
BASELINE = "xlsxwriter"
EXCEL_ROWS = 1_048_576


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per timed run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per writer; the median is reported")
    parser.add_argument("--writers", nargs="*", choices=WRITERS, default=list(WRITERS))
    parser.add_argument("--chunk-size", type=int, default=50_000, help="rows per Arrow chunk (the job's default)")
    parser.add_argument("--timezone", default="Europe/Berlin", help="the request's time zone")
    parser.add_argument("--split-rows", type=int, default=1_100_000, help="rows of the sheet-split check")
    parser.add_argument("--no-split-check", action="store_true")
    parser.add_argument("--probe", type=int, default=0, help="demo rows of the rustpy difference check (0: none)")
    parser.add_argument("--whole", type=int, nargs="*", default=[], help="row counts of the whole-process rounds")
    parser.add_argument("--whole-repeat", type=int, default=3, help="rounds of the whole-process comparison")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sheet_dimensions(path: Path) -> list[tuple[str, str]]:
    """(sheet name, dimension ref) of every sheet, from the first 4 KB of each sheet's XML."""
    with zipfile.ZipFile(path) as archive:
        names = re.findall(r'<sheet name="([^"]*)"', archive.read("xl/workbook.xml").decode())
        found = []
        for number, name in enumerate(names, start=1):
            with archive.open(f"xl/worksheets/sheet{number}.xml") as sheet:
                head = sheet.read(4096).decode("utf-8", "replace")
            found.append((name, re.search(r'<dimension ref="([^"]*)"', head).group(1)))
    return found


def main(args: argparse.Namespace) -> dict:
    results = {"rows": args.rows, "chunk_size": args.chunk_size, "timezone": args.timezone, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="xlsx-bench-") as folder:
        work = Path(folder)
        staged = work / "orders.arrow"
        made = run_self(__file__, "stage", str(staged), str(args.rows), str(args.chunk_size), args.timezone)
        log(f"staged {args.rows:,} rows in {made['seconds']:.1f} s ({staged.stat().st_size / 1e6:.1f} MB)")
        writers = [w for w in args.writers if w != "rustpy" or importlib.util.find_spec("rustpy_xlsxwriter")]
        if writers != args.writers:
            log("rustpy-xlsxwriter is not installed: the rustpy writer is left out")
        # Round robin, not writer after writer: other work on the machine then weighs on every writer alike.
        for attempt in range(args.repeat if writers else 0):
            for writer in writers:
                output = work / f"{writer}.xlsx"
                load = os.getloadavg()[0]
                started = time.perf_counter()
                run = run_self(__file__, "write", writer, str(staged), str(output), "1", args.timezone)
                run["process_seconds"] = time.perf_counter() - started
                run["load_before"] = load
                results["runs"].setdefault(writer, []).append(run)
                output.unlink()
                log(f"{writer} #{attempt + 1}: {run['seconds']:.2f} s, process {run['process_seconds']:.2f} s, "
                    f"cpu {run['cpu_seconds']:.2f} s, peak {run['peak_rss_mb']:.0f} MB, load {load:.1f}")
        if args.probe and "rustpy" in writers:
            results["probe"] = run_self(__file__, "probe", str(args.probe), args.timezone)
        if not args.no_split_check:
            times = -(-args.split_rows // args.rows)
            output = work / "split.xlsx"
            log(f"split check: {args.rows * times:,} rows through the renderer")
            run = run_self(__file__, "write", "renderer", str(staged), str(output), str(times), args.timezone)
            run["sheets"] = sheet_dimensions(output)
            run["file_mb"] = output.stat().st_size / 1e6
            results["split"] = run
    for rows in args.whole:
        results.setdefault("whole", []).append(
            compare(__file__, rows, args.whole_repeat, args.timezone, args.chunk_size, log)
        )
    return results


def report_writers(results: dict) -> None:
    rows = results["rows"]
    medians = {w: statistics.median(r["seconds"] for r in runs) for w, runs in results["runs"].items()}
    cpu = {w: statistics.median(r["cpu_seconds"] for r in runs) for w, runs in results["runs"].items()}
    whole = {w: statistics.median(r["process_seconds"] for r in runs) for w, runs in results["runs"].items()}
    base, cpu_base, whole_base = medians.get(BASELINE), cpu.get(BASELINE), whole.get(BASELINE)
    print(f"\n{rows:,} rows x 13 columns (orders), chunks of {results['chunk_size']:,}, median of "
          f"{len(next(iter(results['runs'].values()), []))}, timestamps in {results['timezone']}\n")
    print(f"{'writer':<12} {'median s':>9} {'min-max s':>12} {'process s':>10} {'cpu s':>7} {'rows/s':>9} "
          f"{'peak MB':>8} {'added MB':>9} {'file MB':>8} {'vs xlsxwriter':>14} {'process vs':>11} {'cpu vs':>7}")
    for writer, runs in results["runs"].items():
        seconds = [r["seconds"] for r in runs]
        ratio = f"{medians[writer] / base:.2f}x" if base else "-"
        cpu_ratio = f"{cpu[writer] / cpu_base:.2f}x" if cpu_base else "-"
        whole_ratio = f"{whole[writer] / whole_base:.2f}x" if whole_base else "-"
        print(f"{writer:<12} {medians[writer]:>9.2f} {min(seconds):>5.2f}-{max(seconds):<6.2f} "
              f"{whole[writer]:>10.2f} {cpu[writer]:>7.2f} {rows / medians[writer]:>9,.0f} "
              f"{max(r['peak_rss_mb'] for r in runs):>8.0f} "
              f"{max(r['peak_rss_mb'] - r['rss_before_mb'] for r in runs):>9.0f} "
              f"{runs[-1]['bytes'] / 1e6:>8.1f} {ratio:>14} {whole_ratio:>11} {cpu_ratio:>7}")
    loads = [r["load_before"] for runs in results["runs"].values() for r in runs]
    print(f"\nload average (1 min) before each run: {min(loads):.1f} to {max(loads):.1f}")


def report(results: dict) -> None:
    for whole in results.get("whole", []):
        report_whole(whole)
    if results["runs"]:
        report_writers(results)
    print_probe(results.get("probe"))
    split = results.get("split")
    if split:
        total = split["rows"]
        print(f"\nsplit check: {total:,} rows in {split['seconds']:.1f} s ({total / split['seconds']:,.0f} rows/s), "
              f"peak {split['peak_rss_mb']:.0f} MB ({split['peak_rss_mb'] - split['rss_before_mb']:.0f} MB added), "
              f"{split['file_mb']:.1f} MB file")
        data_rows = 0
        for name, ref in split["sheets"]:
            last = int(re.search(r"(\d+)$", ref).group(1))
            data_rows += last - 1
            print(f"  sheet {name!r}: {ref} ({last - 1:,} data rows + header)")
        verdict = "ok" if len(split["sheets"]) == -(-total // (EXCEL_ROWS - 1)) and data_rows == total else "MISMATCH"
        print(f"  {len(split['sheets'])} sheets, {data_rows:,} data rows: {verdict}")


# ---- children ----------------------------------------------------------------------------------

def stage(path: str, rows: str, chunk_size: str, timezone: str) -> dict:
    return stage_orders(path, int(rows), int(chunk_size), timezone)


def chunks(path: str, times: int):
    """The staged batches one at a time, ``times`` over: only one chunk is in memory."""
    import pyarrow as pa

    for _ in range(times):
        with pa.OSFile(path) as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                yield pa.Table.from_batches([reader.get_batch(index)])


def write(writer: str, path: str, output: str, times: str, timezone: str) -> dict:
    import resource

    import pyarrow  # noqa: F401  (imported before the clock starts, as in a run)

    from export_pipelines.datasets.catalog import load_catalog

    columns = tuple(load_catalog().dataset("orders").columns.values())
    write_file = {"renderer": write_renderer, "xlsxwriter": write_xlsxwriter, "openpyxl": write_openpyxl,
                  "rustpy": write_rustpy}[writer]
    # Imports happen before the clock starts: a run has them loaded long before it renders.
    if writer == "renderer":
        from export_pipelines.formats import renderer_class

        renderer_class("xlsx")
    else:
        __import__({"xlsxwriter": "xlsxwriter", "openpyxl": "openpyxl.cell", "rustpy": "rustpy_xlsxwriter"}[writer])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    rows = write_file(chunks(path, int(times)), columns, output, timezone)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "writer": writer,
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,  # the imports' share of the peak
        "bytes": Path(output).stat().st_size,
    }


def write_renderer(tables, columns, output: str, timezone: str) -> int:
    from export_pipelines.formats import RenderContext, renderer_class

    rows = 0
    with open(output, "wb") as stream:
        renderer = renderer_class("xlsx")(stream, RenderContext(columns, {}, "Orders", timezone))
        for table in tables:
            renderer.write(table)
            rows += table.num_rows
        renderer.close()
    return rows


def write_xlsxwriter(tables, columns, output: str, timezone: str) -> int:
    """The columns carry ``timezone`` already: remove_timezone keeps their wall-clock time."""
    rows = (cells for table in tables for cells in zip(*(column.to_pylist() for column in table.columns)))
    return xlsxwriter_rows(rows, columns, output)


def write_openpyxl(tables, columns, output: str, timezone: str) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Orders")
    sheet.freeze_panes = "A2"
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, column.label)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    styled = [NUMBER_FORMATS.get(c.type) if c.type != "integer" else None for c in columns]
    rows = 0
    for table in tables:
        values = [table.column(i).to_pylist() for i in range(table.num_columns)]
        for cells in zip(*values):
            out = []
            for value, number_format in zip(cells, styled):
                if number_format is None or value is None:
                    out.append(value)
                    continue
                if getattr(value, "tzinfo", None) is not None:
                    value = value.replace(tzinfo=None)  # already the zone's wall-clock time
                cell = WriteOnlyCell(sheet, value)
                cell.number_format = number_format
                out.append(cell)
            sheet.append(out)
            rows += 1
    book.save(output)
    return rows


if __name__ == "__main__":
    steps = {"stage": stage, "write": write, "probe": lambda rows, zone: probe(rows, zone, write_renderer, chunks),
             "plain": plain_script}  # fmt: skip
    script_main(steps, parse_args, main, report)
