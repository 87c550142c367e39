"""CopyOut against the real server: blocks of whole rows, the last row, and a connection left ready."""

from __future__ import annotations

import gc
import io

import psycopg
import pytest
import sqlalchemy as sa

from export_pipelines.source.copy_out import CopyOut, copy_out

ROWS_SQL = "COPY (SELECT order_id, customer_name, note FROM orders ORDER BY order_id) TO STDOUT WITH (FORMAT csv)"


@pytest.fixture
def connection(postgres_url):
    url = sa.make_url(postgres_url)
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database) as conn:
        yield conn


def csv_rows(data: bytes) -> list[list[str]]:
    import csv

    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_blocks_hold_whole_rows_and_the_last_row_is_known(connection):
    whole = copy_out(connection, ROWS_SQL)
    copy = CopyOut(connection, ROWS_SQL, block_bytes=500)  # many blocks, several rows each

    blocks = list(copy)

    assert len(blocks) > 10 and b"".join(blocks) == whole
    rows = csv_rows(whole)
    assert sum(len(csv_rows(block)) for block in blocks) == len(rows) == copy.rows
    # the demo names hold commas, quotes and line breaks: a block never ends inside a row
    assert any("\n" in row[1] for row in rows)
    assert csv_rows(copy.last_row) == [rows[-1]]


def test_stopping_early_cancels_and_leaves_the_connection_ready(connection):
    copy = iter(CopyOut(connection, ROWS_SQL, block_bytes=100))
    next(copy)
    copy.close()

    assert connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert connection.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
    assert gc.isenabled()


def test_a_failing_statement_raises_its_own_error_class(connection):
    with pytest.raises(psycopg.errors.DivisionByZero):
        copy_out(connection, "COPY (SELECT 1 / 0) TO STDOUT")
    with pytest.raises(psycopg.errors.UndefinedTable):
        copy_out(connection, "COPY (SELECT * FROM no_such_table) TO STDOUT")

    assert connection.execute("SELECT 41 + 1").fetchone()[0] == 42
    assert gc.isenabled()


@pytest.mark.parametrize("blocks_read", [1, 2])
def test_stopping_at_the_last_block_leaves_the_connection_ready(connection, blocks_read):
    """The last block is handed over after the server has finished: stopping there cancels nothing."""
    blocks = iter(CopyOut(connection, "COPY (SELECT 1 UNION ALL SELECT 2) TO STDOUT", block_bytes=2))
    for _ in range(blocks_read):
        next(blocks)
    blocks.close()

    assert connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert connection.execute("SELECT 41 + 1").fetchone()[0] == 42


def test_an_empty_result_is_no_bytes(connection):
    copy = CopyOut(connection, "COPY (SELECT 1 WHERE false) TO STDOUT WITH (FORMAT csv)")

    assert list(copy) == [] and copy.rows == 0 and copy.last_row == b""
