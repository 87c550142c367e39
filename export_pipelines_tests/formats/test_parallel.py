"""Blocks encoded on several threads come back in row order, and CSV does not depend on the block size."""

from __future__ import annotations

import io
import threading

import pyarrow as pa

from export_pipelines.formats import RenderContext, parallel, renderer_class
from export_pipelines_tests.formats.samples import COLUMNS, ROWS, TIMEZONE, shaped_table


def test_results_come_back_in_row_order_from_several_threads():
    table = pa.table({"n": list(range(10_000))})
    threads = set()

    def first_value(block: pa.Table) -> int:
        threads.add(threading.current_thread().name)
        return block.column("n")[0].as_py()

    assert list(parallel.encoded_blocks(table, first_value, block_rows=100)) == list(range(0, 10_000, 100))
    assert all(name.startswith("encode") for name in threads)


def test_an_empty_table_is_one_empty_block():
    assert list(parallel.encoded_blocks(pa.table({"n": pa.array([], pa.int64())}), len)) == [0]


def big_table() -> pa.Table:
    """The hard sample rows (quotes, line breaks, formulas, NULL and '') repeated to 20,000 rows."""
    table = shaped_table(ROWS, COLUMNS)
    return pa.concat_tables([table] * (20_000 // table.num_rows + 1)).slice(0, 20_000)


def render_csv(table: pa.Table, options: dict) -> bytes:
    stream = io.BytesIO()
    renderer = renderer_class("csv")(stream, RenderContext(COLUMNS, options, "Orders", TIMEZONE))
    renderer.write(table)
    renderer.close()
    return stream.getvalue()


def test_csv_is_the_same_whatever_the_block_size(monkeypatch):
    table = big_table()
    for options in ({}, {"quoting": "minimal"}, {"encoding": "cp1252", "encoding_errors": "replace"}):
        by_blocks = render_csv(table, options)
        monkeypatch.setattr(parallel, "BLOCK_ROWS", 1_000_000)
        whole = render_csv(table, options)
        monkeypatch.undo()
        assert by_blocks == whole
        assert by_blocks.count(b"\n") >= 20_000


def test_a_forked_child_encodes_with_a_pool_of_its_own():
    import multiprocessing

    assert list(parallel.encoded_blocks(pa.table({"n": list(range(300))}), len, block_rows=100)) == [100] * 3
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        assert pool.apply_async(_encode_in_child).get(timeout=30) == [100] * 3


def _encode_in_child() -> list[int]:
    return list(parallel.encoded_blocks(pa.table({"n": list(range(300))}), len, block_rows=100))
