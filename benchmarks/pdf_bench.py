"""How fast is the PDF renderer alone, and how much memory does it take?

Arrow tables of the ``orders`` columns (the preview's sample orders: hard names, long notes) are
written once per row count to an Arrow IPC file; then each measurement is a fresh process that
streams that file, 50,000 rows a chunk (the request's default chunk size), through ``PdfRenderer``
into a file, and reports its own time and peak RSS. Medians of the repetitions are printed;
nothing is asserted.

    .venv/bin/python benchmarks/pdf_bench.py                          # 10,000 and 100,000 rows, 3 runs each
    .venv/bin/python benchmarks/pdf_bench.py --rows 20000 --repeat 1  # a quick look
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

from bench_support import peak_rss_mb, print_result, run_for_result  # noqa: E402

TIMEZONE = "Europe/Berlin"
CHUNK_ROWS = 50_000


def child(data: Path, output: Path, template: str) -> dict:
    """One measurement: stream ``data`` through the renderer into ``output``."""
    import pyarrow as pa

    from export_pipelines.formats import RenderContext, renderer_class
    from export_pipelines.reports.preview import SAMPLE_FILTERS, orders_columns

    context = RenderContext(orders_columns(), {"template": template}, "Orders", TIMEZONE,
                            export_id="bench", filters=SAMPLE_FILTERS)
    renderer_type = renderer_class("pdf")  # imports every format module: not the renderer's cost
    rss_before = peak_rss_mb()  # before the template's fonts are loaded: they are the renderer's cost
    started = time.perf_counter()
    rows = 0
    with pa.OSFile(str(data)) as source, open(output, "wb") as stream:
        reader = pa.ipc.open_file(source)
        renderer = renderer_type(stream, context)
        for index in range(reader.num_record_batches):
            table = pa.Table.from_batches([reader.get_batch(index)])
            renderer.write(table)
            rows += table.num_rows
            del table
        renderer.close()
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "pages": renderer.pages, "bytes": output.stat().st_size,
            "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss_before, "startup_seconds": started - STARTED}


def write_data(rows: int, path: Path) -> None:
    """The sample orders, typed as the transform step types them, as one Arrow IPC file."""
    import pyarrow as pa

    from export_pipelines.reports.preview import sample_tables

    writer = None
    for table in sample_tables(rows, TIMEZONE, chunk_rows=CHUNK_ROWS):
        writer = writer or pa.ipc.new_file(str(path), table.schema)
        writer.write_table(table, max_chunksize=CHUNK_ROWS)
    writer.close()


def measure(data: Path, work: Path, template: str) -> dict:
    output = work / "report.pdf"
    try:
        return run_for_result([sys.executable, __file__, "--child", str(data), str(output), "--template", template],
                              timeout=1800)
    finally:
        output.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--template", default="default")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("DATA", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print_result(child(*args.child, args.template))
        return 0
    cases = []
    with tempfile.TemporaryDirectory(prefix="pdf_bench_") as folder:
        work = Path(folder)
        for rows in args.rows:
            data = work / f"orders-{rows}.arrow"
            write_data(rows, data)
            runs = []
            for repeat in range(args.repeat):
                runs.append(measure(data, work, args.template))
                print(f"[{time.strftime('%H:%M:%S')}] {rows:,} rows, run {repeat + 1}: {runs[-1]['seconds']:.2f} s, "
                      f"peak RSS {runs[-1]['peak_rss_mb']:.0f} MB, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
            cases.append(runs)
    header = (f"{'rows':>9} {'median s':>9} {'min-max s':>13} {'rows/s':>8} {'pages':>6} {'pages/s':>8} "
              f"{'peak RSS MB':>11} {'RSS@start MB':>12} {'PDF MB':>7}")
    print(f"\nPDF renderer alone ({args.template} template, orders columns, chunks of {CHUNK_ROWS:,} rows, "
          f"median of {args.repeat}; {os.cpu_count()} CPUs)\n")
    print(header)
    print("-" * len(header))
    for runs in cases:
        median = statistics.median(r["seconds"] for r in runs)
        first = runs[0]
        print(f"{first['rows']:>9,} {median:>9.2f} "
              f"{min(r['seconds'] for r in runs):>6.2f}-{max(r['seconds'] for r in runs):<6.2f} "
              f"{first['rows'] / median:>8,.0f} {first['pages']:>6,} {first['pages'] / median:>8,.1f} "
              f"{statistics.median(r['peak_rss_mb'] for r in runs):>11.0f} "
              f"{statistics.median(r['rss_before_mb'] for r in runs):>12.0f} {first['bytes'] / 2**20:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
