"""What the benchmark scripts share: the child-process result line, peak memory, staged demo orders.

Kept free of heavy imports at module level, so a child that times its own start-up can import it first.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable

# A child prints its figures as one JSON line starting with this, so nothing else it prints can be
# mistaken for them.
RESULT_MARK = "BENCH_RESULT "


def print_result(value) -> None:
    print(RESULT_MARK + json.dumps(value), flush=True)


def result_of(stdout: str):
    """The last result line a child printed, decoded; None when it printed none."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    return json.loads(lines[-1][len(RESULT_MARK):]) if lines else None


def run_for_result(command: list[str], timeout: float | None = None):
    """Run ``command`` to completion and return its result; RuntimeError with its stderr if it has none."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    result = result_of(done.stdout)
    if done.returncode or result is None:
        raise RuntimeError(f"{command[1:]} exited {done.returncode}: {done.stderr[-3000:]}")
    return result


def run_self(script: str, *arguments: str):
    """Run ``script`` again as a fresh process (``--child``), for one of its ``child_steps``."""
    return run_for_result([sys.executable, script, "--child", json.dumps(arguments)])


def script_main(child_steps: dict[str, Callable], parse_args, main, report) -> None:
    """A benchmark script's entry point: one child step (``--child '["step", ...]'``) or the whole run."""
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        step, *arguments = json.loads(sys.argv[2])
        print_result(child_steps[step](*arguments))
        return
    arguments = parse_args()
    figures = main(arguments)
    report(figures)
    if arguments.json_out:
        arguments.json_out.write_text(json.dumps(figures, indent=2))


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child started by a
    parent holding 500 MB reports at least 500 MB. VmHWM belongs to the process's own memory map.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # No /proc (macOS): ru_maxrss, in bytes there, and inherited as above.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)


def stage_orders(path: str, rows: int, chunk_size: int, timezone: str) -> dict:
    """Write ``rows`` demo orders, typed as transform_chunk types them, to an Arrow IPC file."""
    import random

    import pyarrow as pa

    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.demo.values import Customer, customer_count, customer_rows, order_rows

    started = time.perf_counter()
    columns = list(load_catalog().dataset("orders").columns.values())
    rng = random.Random(42)
    directory = [Customer.from_row(row) for row in customer_rows(customer_count(rows), rng)]
    values = list(zip(*order_rows(rows, rng, directory)))
    fields = [pa.field(c.name, pa.timestamp("us", tz=timezone) if c.type == "timestamp" else c.arrow_type)
              for c in columns]  # fmt: skip
    arrays = [pa.array(list(v), type=c.arrow_type).cast(f.type) for v, c, f in zip(values, columns, fields)]
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=chunk_size)
    return {"seconds": time.perf_counter() - started}
