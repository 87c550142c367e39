"""The PDF renderer against the one it replaced: same rows, same template, paired in interleaved rounds.

Arrow tables of the ``orders`` columns (the preview's sample orders: hard names, long notes) are
written once per row count to an Arrow IPC file. Each measurement is a fresh process that streams
that file, 50,000 rows a chunk (the request's default chunk size), through ``PdfRenderer`` into a
file and reports its wall time, its CPU time (its own and its worker processes'), peak RSS and the
page count. The **previous** renderer (one canvas, one process) runs from a git worktree of
``--baseline`` (default: the commit before page ranges), put on the child's ``PYTHONPATH``, in the
same virtualenv; each round runs both, alternating which goes first. Medians are printed with the
ratio new / previous, both as a ratio of medians and as the median of each round's ratio.

    .venv/bin/python benchmarks/pdf_bench.py                          # 100,000 rows, 5 rounds
    .venv/bin/python benchmarks/pdf_bench.py --rows 20000 --repeat 2  # a quick look
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from bench_support import peak_rss_mb, print_result, result_of  # noqa: E402

TIMEZONE = "Europe/Berlin"
CHUNK_ROWS = 50_000
BASELINE = "335d220"  # drawing on one canvas in one process, before page ranges
REPOSITORY = Path(__file__).resolve().parents[1]


def child(data: Path, output: Path, template: str) -> dict:
    """One measurement: stream ``data`` through the renderer into ``output``."""
    import pyarrow as pa

    import export_pipelines
    from export_pipelines.formats import RenderContext, renderer_class
    from export_pipelines.reports.preview import SAMPLE_FILTERS, orders_columns

    context = RenderContext(orders_columns(), {"template": template}, "Orders", TIMEZONE,
                            export_id="bench", filters=SAMPLE_FILTERS)  # fmt: skip
    renderer_type = renderer_class("pdf")  # imports every format module: not the renderer's cost
    rss_before = peak_rss_mb()  # before the template's fonts are loaded: they are the renderer's cost
    cpu_before = _cpu_seconds()
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
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu_before, "pages": renderer.pages,
            "bytes": output.stat().st_size, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss_before,
            "workers_peak_rss_mb": workers_rss, "startup_seconds": started - STARTED,
            "code": str(Path(export_pipelines.__file__).parents[1])}  # fmt: skip


def _cpu_seconds() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def write_data(rows: int, path: Path) -> None:
    """The sample orders, typed as the transform step types them, as one Arrow IPC file."""
    import pyarrow as pa

    from export_pipelines.reports.preview import sample_tables

    writer = None
    for table in sample_tables(rows, TIMEZONE, chunk_rows=CHUNK_ROWS):
        writer = writer or pa.ipc.new_file(str(path), table.schema)
        writer.write_table(table, max_chunksize=CHUNK_ROWS)
    writer.close()


def measure(data: Path, work: Path, template: str, code: Path | None) -> dict:
    """One child run: this checkout's renderer, or the one in the worktree ``code``."""
    output = work / "report.pdf"
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    command = [sys.executable, __file__, "--child", str(data), str(output), "--template", template]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
        if done.returncode:
            raise RuntimeError(f"child exited {done.returncode}: {done.stderr[-3000:]}")
        result = result_of(done.stdout)
        if result is None:
            raise RuntimeError(f"child printed no result: {done.stderr[-3000:]}")
        if Path(result["code"]) != (code or REPOSITORY).resolve():
            raise RuntimeError(f"child ran the renderer in {result['code']}, not in {code or REPOSITORY}")
        return result
    finally:
        output.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=5, help="rounds, each running both renderers")
    parser.add_argument("--template", default="default")
    parser.add_argument("--baseline", default=BASELINE, help="commit whose renderer is the previous one")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("DATA", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print_result(child(*args.child, args.template))
        return 0
    cases = []
    with tempfile.TemporaryDirectory(prefix="pdf_bench_") as folder:
        work, previous = Path(folder), Path(folder) / "previous"
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--quiet", "--detach", str(previous),
                        args.baseline], check=True)  # fmt: skip
        try:
            for rows in args.rows:
                data = work / f"orders-{rows}.arrow"
                write_data(rows, data)
                runs: dict[str, list[dict]] = {"previous": [], "new": []}
                for round_ in range(args.repeat):
                    order = ["previous", "new"] if round_ % 2 == 0 else ["new", "previous"]
                    for name in order:
                        runs[name].append(measure(data, work, args.template, previous if name == "previous" else None))
                        run = runs[name][-1]
                        print(f"[{time.strftime('%H:%M:%S')}] {rows:,} rows, round {round_ + 1}, {name}: "
                              f"{run['seconds']:.2f} s, CPU {run['cpu_seconds']:.2f} s, {run['pages']:,} pages, "
                              f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)  # fmt: skip
                cases.append((rows, runs))
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(previous)], check=False)
    report(cases, args)
    if args.json_out:
        found = [{"rows": rows, "runs": runs} for rows, runs in cases]
        args.json_out.write_text(json.dumps({"cases": found}, indent=2))
    return 0


def report(cases: list, args) -> None:
    print(f"\nPDF renderer alone, previous ({args.baseline}, one process) vs new (page ranges on "
          f"{os.cpu_count()} CPUs); {args.template} template, orders columns, chunks of {CHUNK_ROWS:,} rows, "
          f"{args.repeat} interleaved rounds; load average at the end {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    header = (f"{'rows':>9} {'renderer':>9} {'median s':>9} {'min-max s':>13} {'CPU s':>7} {'pages':>6} "
              f"{'peak RSS MB':>11} {'workers MB':>10} {'PDF MB':>7}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for rows, runs in cases:
        for name, measured in runs.items():
            median = statistics.median(r["seconds"] for r in measured)
            print(f"{rows:>9,} {name:>9} {median:>9.2f} "
                  f"{min(r['seconds'] for r in measured):>6.2f}-{max(r['seconds'] for r in measured):<6.2f} "
                  f"{statistics.median(r['cpu_seconds'] for r in measured):>7.2f} {measured[0]['pages']:>6,} "
                  f"{statistics.median(r['peak_rss_mb'] for r in measured):>11.0f} "
                  f"{statistics.median(r['workers_peak_rss_mb'] for r in measured):>10.0f} "
                  f"{measured[0]['bytes'] / 2**20:>7.1f}")  # fmt: skip
        previous, new = runs["previous"], runs["new"]
        ratio = statistics.median(r["seconds"] for r in new) / statistics.median(r["seconds"] for r in previous)
        paired = statistics.median(n["seconds"] / p["seconds"] for n, p in zip(new, previous))
        cpu = statistics.median(r["cpu_seconds"] for r in new) / statistics.median(r["cpu_seconds"] for r in previous)
        print(f"{rows:>9,} new / previous: {ratio:.2f} (medians), {paired:.2f} (median of rounds), CPU {cpu:.2f}")


if __name__ == "__main__":
    sys.exit(main())
