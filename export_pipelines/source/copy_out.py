"""``COPY ... TO STDOUT`` read at libpq's pace, in blocks of whole rows.

PostgreSQL sends COPY output as one protocol message per row. psycopg's ``Copy`` object hands
each message through Python generators and a wait function (~1.4 µs of Python a row: 1.4 s of
CPU for a million rows). ``CopyOut`` asks libpq for rows directly and waits on the socket only
when libpq's buffer is empty: a third of the cost. The wait is a ``select``, which releases the
GIL, so a thread reading a COPY leaves the rest of the process running.
"""

from __future__ import annotations

import selectors
from collections.abc import Iterator

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result

from export_pipelines.source.gc_relax import gc_relaxed

_COPY_OUT = pq.ExecStatus.COPY_OUT
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
BLOCK_BYTES = 2 << 20


class CopyOut:
    """One ``COPY ... TO STDOUT`` statement; iterate it for its output in blocks of whole rows.

    After each block, ``rows`` is the number of rows so far and ``last_row`` the last one's bytes (so a
    keyset walk can read where the next chunk starts without parsing the block). With ``chunk_rows``,
    a block also ends after every ``chunk_rows`` rows, so one statement's output can be cut into
    chunks of exactly that many rows: a chunk ends where ``rows`` is a multiple of it. Errors are raised
    as psycopg raises them (``OperationalError`` for a lost connection, the SQLSTATE's class
    otherwise). Stopping early cancels the statement; the connection is always left ready.
    """

    def __init__(
        self,
        connection: psycopg.Connection,
        query: str,
        block_bytes: int | None = None,
        chunk_rows: int | None = None,
    ):
        self._connection = connection
        self._query = query
        self._block_bytes = block_bytes or BLOCK_BYTES
        self._chunk_rows = chunk_rows or 0
        self.rows = 0
        self.last_row = b""
        self._streaming = False

    def __iter__(self) -> Iterator[bytearray]:
        connection = self._connection
        with connection.lock, selectors.DefaultSelector() as selector:
            pgconn = connection.pgconn
            encoding = connection.info.encoding
            pgconn.send_query(self._query.encode(encoding))
            selector.register(pgconn.socket, selectors.EVENT_READ)
            _expect(pgconn, selector, _COPY_OUT, encoding)
            self._streaming = True
            try:
                with gc_relaxed():
                    yield from self._blocks(pgconn, selector)
            except BaseException:  # the consumer stopped early (GeneratorExit), or the read failed
                self._abandon(connection, selector)
                raise
            _expect(pgconn, selector, _COMMAND_OK, encoding)
            _drain(pgconn, selector)

    def _abandon(self, connection: psycopg.Connection, selector: selectors.BaseSelector) -> None:
        """Leave the connection ready for its next statement after stopping halfway."""
        pgconn = connection.pgconn
        try:
            if self._streaming:  # rows are still coming: ask the server to stop, then read what it sent
                connection.cancel_safe()
                _discard_rows(pgconn, selector)
            _drain(pgconn, selector)
        except psycopg.Error:
            pass  # the connection itself is broken: the pool's pre-ping replaces it

    def _blocks(self, pgconn, selector) -> Iterator[bytearray]:
        block = bytearray()
        read = pgconn.get_copy_data
        row = b""
        rows = 0
        # The row count at which the current block must end: a chunk's end (or never, without chunks).
        chunk_rows = self._chunk_rows
        cut = chunk_rows or -1
        while True:
            size, row_view = read(1)  # non-blocking: 0 means libpq's buffer is empty
            if size > 0:
                block += row_view
                row = row_view
                rows += 1
                if rows == cut:
                    cut += chunk_rows
                    self.rows, self.last_row = rows, bytes(row)
                    yield block
                    block = bytearray()
                elif len(block) >= self._block_bytes:
                    self.rows, self.last_row = rows, bytes(row)
                    yield block  # handed over, not copied: the next rows go to a new buffer
                    block = bytearray()
            elif size == 0:
                _wait(pgconn, selector)
            elif size == -1:
                self._streaming = False  # the server has sent everything; only its result is left
                break
            else:
                raise psycopg.OperationalError(f"COPY failed: {pgconn.get_error_message()}")
        self.rows, self.last_row = rows, bytes(row)
        if block:
            yield block


def copy_chunks(connection: psycopg.Connection, query: str, size: int) -> Iterator[bytearray | int]:
    """One COPY's output cut into chunks of ``size`` rows: each chunk's blocks, then its row count.

    The last chunk may be shorter; a statement with no rows is one chunk of 0 rows, so a consumer
    always has a chunk. One statement reads the whole export: a sorted export is sorted once by the
    server, where a keyset walk would sort again for every chunk.
    """
    copy = CopyOut(connection, query, chunk_rows=size)
    ended = 0  # rows in the chunks already ended
    for block in copy:
        yield block
        if copy.rows - ended == size:
            ended = copy.rows
            yield size
    if copy.rows > ended or not ended:
        yield copy.rows - ended


def copy_out(connection: psycopg.Connection, query: str) -> bytes:
    """Everything ``query`` writes, in one buffer."""
    return b"".join(CopyOut(connection, query))


def _wait(pgconn, selector: selectors.BaseSelector) -> None:
    """Wait for the server's next bytes and read them in.

    A connection libpq has given up on (reset, closed by the server) has no socket any more: a
    select on it would wait forever, so it is an error at once.
    """
    if pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError(f"the connection to the server was lost: {pgconn.get_error_message()}")
    selector.select()
    pgconn.consume_input()


def _next_result(pgconn, selector: selectors.BaseSelector):
    while pgconn.is_busy():
        _wait(pgconn, selector)
    return pgconn.get_result()


def _expect(pgconn, selector, status, encoding: str) -> None:
    result = _next_result(pgconn, selector)
    if result is not None and result.status == status:
        return
    _drain(pgconn, selector)
    if result is None:
        raise psycopg.OperationalError(f"COPY returned no result: {pgconn.get_error_message()}")
    raise error_from_result(result, encoding=encoding)


def _discard_rows(pgconn, selector) -> None:
    while True:
        size, _ = pgconn.get_copy_data(1)
        if size == 0:
            _wait(pgconn, selector)
        elif size < 0:
            return


def _drain(pgconn, selector: selectors.BaseSelector) -> None:
    while _next_result(pgconn, selector) is not None:
        pass
