"""What the benchmark scripts share: peak memory of a child process and staged demo orders.

Kept free of heavy imports at module level, so a child that times its own start-up can import it first.
"""

from __future__ import annotations

import resource
import sys
import time


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

    from export_pipelines.catalog import load_catalog
    from export_pipelines.demo_values import Customer, customer_count, customer_rows, order_rows

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
