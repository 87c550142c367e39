"""How fast is each renderer alone, and how much memory does it take? CSV is the baseline.

No Dagster and no database: the demo ``orders`` (all 13 columns, ``export_pipelines.demo.values``,
seed 42) shaped as ``transform_chunk`` hands them over (timestamps in Europe/Berlin), staged once
in an Arrow IPC file. Each measurement is a fresh process that reads the staged file one
--chunk-size batch at a time (as ``render_file`` reads staged chunks) and writes it through
``compressed`` and the renderer into local storage under ``_staging/``, as ``render_file`` does.

    .venv/bin/python benchmarks/formats_bench.py                          # 100k and 1M rows (PDF 10k, 100k), 3 runs
    .venv/bin/python benchmarks/formats_bench.py --rows 20000 --pdf-rows 2000 --repeat 1   # a quick look
    .venv/bin/python benchmarks/formats_bench.py --cases csv parquet      # some cases only

Cases are formats with options or compression (``csv[quoting=minimal]``, ``csv+gzip``); the default
list covers every registered format and the CSV and JSON options with a cost of their own. A case may
end in ``@rules`` (the display rules of the README's example: locale de-DE, a currency, a date pattern,
a highlight) or ``@formatted`` (the same with ``formatted: true``), e.g. ``xlsx@rules csv@formatted``;
``vs plain`` then divides its median by the same case's without them, measured in the same run:

    .venv/bin/python benchmarks/formats_bench.py --rows 200000 --cases xlsx xlsx@rules csv csv@formatted

Figures: ``median s`` runs from the first chunk read to the closed file (imports excluded); ``cpu s``
is user + system time over the same span, steadier than wall time on a busy machine; ``peak MB`` is
the child's VmHWM from /proc/self/status (ru_maxrss is carried over fork and exec on Linux, so it
would report the parent's peak), ``added MB`` that minus VmHWM just before the first chunk (imports,
renderer set up). ``vs csv`` divides the median by the plain ``csv`` median at the same row count,
measured in the same run. Cases take turns within each repetition, so a busy spell is shared.
Nothing is asserted: this script measures, it does not judge.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from bench_support import peak_rss_mb, run_self, script_main, stage_orders  # noqa: E402

TIMEZONE = "Europe/Berlin"
BASELINE = "csv"
DEFAULT_CASES = (
    "csv", "csv[formula_guard=false]", "csv[quoting=minimal]", "csv[encoding=cp1252,encoding_errors=replace]",
    "csv+gzip", "csv+zip", "json", "json[decimals=number]", "jsonl", "parquet", "xlsx", "pdf",
)  # fmt: skip
SLOW_FORMATS = {"pdf"}  # measured at --pdf-rows only
RULES = {
    "locale": "de-DE",
    "formats": {"amount": {"number": "currency", "currency": "EUR", "decimals": 2},
                "created_at": {"datetime": "dd.MM.yyyy HH:mm"}},
    "highlight": [{"when": "amount > 1000", "bold": True, "color": "#C00000"}],
}  # fmt: skip
DISPLAY = {"rules": RULES, "formatted": {**RULES, "formatted": True}}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pdf-rows", type=int, nargs="+", default=[10_000, 100_000], help="row counts for pdf")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--chunk-size", type=int, default=100_000, help="rows per staged chunk")
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), help="format[opt=value,...][+compression]")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    return parser.parse_args(argv)


def parse_case(case: str) -> tuple[str, dict, str]:
    """'csv[quoting=minimal]+gzip' -> ('csv', {'quoting': 'minimal'}, 'gzip'); a display preset (@rules) aside."""
    import yaml

    case = case.partition("@")[0]
    case, _, compression = case.partition("+")
    name, _, rest = case.partition("[")
    options = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        key, _, value = item.partition("=")
        options[key] = yaml.safe_load(value)
    return name, options, compression or "none"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> dict:
    results = {"chunk_size": args.chunk_size, "timezone": TIMEZONE, "runs": {}, "python": sys.version.split()[0]}
    plans = []  # (rows, case)
    for rows in sorted(set(args.rows) | set(args.pdf_rows)):
        for case in args.cases:
            slow = parse_case(case)[0] in SLOW_FORMATS
            if rows in (args.pdf_rows if slow else args.rows):
                plans.append((rows, case))
    with tempfile.TemporaryDirectory(prefix="formats-bench-") as folder:
        work = Path(folder)
        staged = work / "orders.arrow"
        most = max(rows for rows, _ in plans)
        made = run_self(__file__, "stage", str(staged), str(most), str(args.chunk_size))
        log(f"staged {most:,} rows in {made['seconds']:.1f} s ({staged.stat().st_size / 1e6:.0f} MB)")
        for rows in sorted({rows for rows, _ in plans}):
            cases = [case for r, case in plans if r == rows]
            for attempt in range(args.repeat):
                for case in cases:  # round robin: a busy spell weighs on every case alike
                    load = os.getloadavg()[0]
                    run = run_self(__file__, "render", case, str(staged), str(work / "out"), str(rows))
                    run["load_before"] = load
                    results["runs"].setdefault(f"{rows}|{case}", []).append(run)
                    log(f"{rows:>9,} {case:<45} #{attempt + 1}: {run['seconds']:6.2f} s, "
                        f"cpu {run['cpu_seconds']:6.2f} s, peak {run['peak_rss_mb']:5.0f} MB, "
                        f"{run['bytes'] / 1e6:7.1f} MB out, load {load:.1f}")  # fmt: skip
    return results


def report(results: dict) -> None:
    by_rows: dict[int, dict[str, list]] = {}
    for key, runs in results["runs"].items():
        rows, case = key.split("|", 1)
        by_rows.setdefault(int(rows), {})[case] = runs
    repeats = max(len(runs) for runs in results["runs"].values())
    print(f"\nrenderers alone, demo orders x 13 columns, chunks of {results['chunk_size']:,}, "
          f"timestamps in {results['timezone']}, median of {repeats}, Python {results['python']}\n")  # fmt: skip
    print(f"{'case':<46}{'rows':>10}{'median s':>10}{'min-max s':>14}{'cpu s':>8}{'rows/s':>11}"
          f"{'peak MB':>9}{'added MB':>9}{'MB out':>8}{'vs csv':>8}{'vs plain':>9}")  # fmt: skip
    for rows in sorted(by_rows):
        cases = by_rows[rows]
        baseline = statistics.median(r["seconds"] for r in cases[BASELINE]) if BASELINE in cases else None
        for case, runs in cases.items():
            seconds = [r["seconds"] for r in runs]
            median = statistics.median(seconds)
            ratio = f"{median / baseline:.2f}x" if baseline else "-"
            plain = cases.get(case.partition("@")[0]) if "@" in case else None
            versus = f"{median / statistics.median(r['seconds'] for r in plain):.2f}x" if plain else "-"
            print(f"{case:<46}{rows:>10,}{median:>10.2f}{min(seconds):>7.2f}-{max(seconds):<6.2f}"
                  f"{statistics.median(r['cpu_seconds'] for r in runs):>8.2f}{rows / median:>11,.0f}"
                  f"{max(r['peak_rss_mb'] for r in runs):>9.0f}"
                  f"{max(r['peak_rss_mb'] - r['rss_before_mb'] for r in runs):>9.0f}"
                  f"{runs[-1]['bytes'] / 1e6:>8.1f}{ratio:>8}{versus:>9}")  # fmt: skip
        print()


# ---- children ----------------------------------------------------------------------------------


def stage(path: str, rows: str, chunk_size: str) -> dict:
    return stage_orders(path, int(rows), int(chunk_size), TIMEZONE)


def render(case: str, path: str, folder: str, rows: str) -> dict:
    """Stream the first ``rows`` staged rows through one case's renderer into local storage."""
    import pyarrow as pa

    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.formats import RenderContext, renderer_class
    from export_pipelines.formats.compression import compressed
    from export_pipelines.storage import storage_from_url
    from export_pipelines.storage.base import TRANSIENT_PREFIX

    name, options, compression = parse_case(case)
    wanted = int(rows)
    columns = tuple(load_catalog().dataset("orders").columns.values())
    preset = case.partition("@")[2]
    display = {"display": display_rules(name, options, DISPLAY[preset])} if preset else {}  # older revisions: none
    context = RenderContext(columns, options, "Orders", TIMEZONE, export_id="bench", **display)
    renderer_type = renderer_class(name)  # imports every format module: not the renderer's cost
    storage = storage_from_url(folder)
    key = f"{TRANSIENT_PREFIX}bench/out.{renderer_type.extension}"  # staging, as render_file: no fsync
    rss_before = peak_rss_mb()
    cpu_before, started = os.times(), time.perf_counter()
    done = 0
    with pa.OSFile(path) as source, storage.open_write(key) as output:
        reader = pa.ipc.open_file(source)
        # The zip entry name only when needed: older revisions' compressed() takes two arguments.
        named = (f"out.{renderer_type.extension}",) if compression == "zip" else ()
        with compressed(output.stream, compression, *named) as stream:
            renderer = renderer_type(stream, context)
            for index in range(reader.num_record_batches):
                if done >= wanted:
                    break
                table = pa.Table.from_batches([reader.get_batch(index)]).slice(0, wanted - done)
                renderer.write(table)
                done += table.num_rows
            renderer.close()
    seconds = time.perf_counter() - started
    cpu_after = os.times()
    storage.delete_prefix(key)
    return {
        "seconds": seconds,
        "cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "rows": done,
        "bytes": output.result.bytes,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "startup_seconds": started - STARTED,
    }


def display_rules(format_name: str, options: dict, fields: dict):
    """The checked display rules of a request with ``fields``, as validation hands them to the renderer."""
    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.request.model import ExportRequest
    from export_pipelines.request.validation import check_request

    request = ExportRequest(user="bench", dataset="orders", format=format_name, format_options=options,
                            timezone=TIMEZONE, **fields)  # fmt: skip
    return check_request(request, load_catalog()).display


if __name__ == "__main__":
    script_main({"stage": stage, "render": render}, parse_args, main, report)
