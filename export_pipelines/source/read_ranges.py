"""Several readers for one export: the key space cut into ranges of about equal rows, one snapshot for all.

One COPY is one backend formatting every row, on one core of the database server. Cut into key
ranges, the same export is read by several backends at once, each range on its own connection
and each range's bytes staged on their own; joined in range order they are the export's rows in
key order, the order one statement gives, so the file is byte for byte the one a single reader writes.

Where the cuts go: PostgreSQL's statistics already hold them. ``pg_stats.histogram_bounds`` of the
key column (kept by ANALYZE and autovacuum) cut the table into buckets of equal row counts, so
taking every k-th bound gives ranges of about equal rows without reading a row or an index page.
A table without statistics (never analysed, or a view) is read by one reader. The ranges cover
the whole key space (the first and last are open-ended), so rows the statistics do not know are
still read, once: the cuts decide only how evenly the work is shared.

Why one snapshot: readers that each took their own snapshot would see a row another connection
moves, inserts or deletes while the export runs in two ranges or in none. The coordinating
connection opens a REPEATABLE READ transaction and exports its snapshot (``pg_export_snapshot``);
each reader starts its transaction with ``SET TRANSACTION SNAPSHOT``, so every reader sees the
database as it was at that one moment, as one statement would. The coordinator keeps its
transaction open until the last reader has started (an exported snapshot lives as long as it).
A reader needs nothing but the snapshot's id, so it may be in another process than the holder;
a reader that comes after the holder's transaction ended gets ``SnapshotEnded``, never a snapshot
of its own: a range read at another moment would lose or repeat rows.

Why key ranges and not ctid (block) ranges, which PostgreSQL 14+ scans directly: every export is in
key order (the key ends every order), and blocks hold rows in insertion order, not key order, so
block ranges would change the file.
"""

from __future__ import annotations

import dataclasses
import re

import sqlalchemy as sa

from export_pipelines.errors import PermanentExportError
from export_pipelines.source.query import ExportQuery

# Below this many rows a reader costs more than it saves (a connection, a transaction, a statement
# planned); measured with benchmarks/export_bench.py --readers.
MIN_ROWS_PER_READER = 250_000
_SNAPSHOT_GONE = "22023"  # SET TRANSACTION SNAPSHOT's "invalid snapshot identifier": its transaction ended
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
_HISTOGRAM = sa.text(
    "SELECT s.histogram_bounds::text::text[] FROM pg_stats s"
    " JOIN pg_namespace n ON n.nspname = s.schemaname"
    " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename"
    " WHERE c.oid = to_regclass(:table) AND s.attname = :key"
    " ORDER BY s.inherited DESC LIMIT 1"  # a partitioned table's statistics cover its partitions
)


class SnapshotEnded(PermanentExportError):
    """The export's snapshot ended (the transaction holding it closed, or its connection was lost) before a
    reader joined it. Permanent: no retry of this reader can read that moment again; the export is read
    again, every range in a new snapshot (in one step, the coordinator's lost connection is what is retried)."""


def reader_count(visible_rows: int, readers: int) -> int:
    """How many readers an export of ``visible_rows`` gets, at most ``readers``: small exports get one."""
    return max(1, min(readers, visible_rows // MIN_ROWS_PER_READER))


def key_split_points(connection: sa.Connection, query: ExportQuery, parts: int) -> tuple[str, ...]:
    """Keys (as text) that cut ``query``'s rows into ``parts`` ranges of about equal rows; () for one reader.

    () too where ranges cannot be read in the export's order (it is sorted on another column than the
    key), where the source is not PostgreSQL, and where the key has no statistics.
    """
    if parts < 2 or connection.dialect.name != "postgresql" or not splits_by_key(query):
        return ()
    bounds = connection.execute(_HISTOGRAM, {"table": query.dataset.table, "key": query.dataset.key}).scalar()
    if not bounds or len(bounds) < 2:
        return ()
    last = len(bounds) - 1
    points = (bounds[round(part * last / parts)] for part in range(1, parts))
    return tuple(dict.fromkeys(points))  # a key the histogram repeats would make an empty range


def splits_by_key(query: ExportQuery) -> bool:
    """Whether key ranges joined in order give the export's order: it is the key's order alone."""
    return len(query.order) == 1 and query.order[0][0] == query.dataset.key


def ranged_queries(query: ExportQuery, points: tuple[str, ...]) -> list[ExportQuery]:
    """One query per range between ``points``, in the export's order (descending keys: the top range first)."""
    edges = [None, *points, None]
    ranges = [dataclasses.replace(query, key_range=pair) for pair in zip(edges, edges[1:])]
    return ranges[::-1] if query.order[0][1] else ranges


def export_snapshot(connection: sa.Connection) -> str:
    """Open a REPEATABLE READ transaction on ``connection`` and return its snapshot's id, for the readers.

    The snapshot stays usable while the transaction is open: keep the connection until every reader has joined.
    """
    connection.execution_options(isolation_level="REPEATABLE READ")
    return connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar()


def join_snapshot(connection: sa.Connection, snapshot: str) -> None:
    """Start ``connection``'s transaction in ``snapshot``: it sees what the exporting transaction sees."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # SET TRANSACTION takes no parameters: the id goes into the text
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    connection.execution_options(isolation_level="REPEATABLE READ")
    try:
        connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    except sa.exc.DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != _SNAPSHOT_GONE:
            raise
        raise SnapshotEnded(
            "the export's snapshot ended before a reader joined it (the connection holding it closed or was "
            "lost); run the export again"
        ) from None  # the driver's error says no more, and would describe the failure by its code alone
