"""Several readers for one export: the order's first column cut into ranges of about equal rows, one snapshot.

One COPY is one backend formatting every row, on one core of the database server (and, for an export
sorted on a column without an index, sorting them all). Cut into ranges of the order's first column (the
key, or the first sort column), the same export is read by several backends at once, each range on its
own connection and each range's bytes staged on their own. Every row of a range comes before every row
of the next in the export's order (ties of the first column are all in one range, ordered by the rest of
the order there), so joined in range order they are the rows in the order one statement gives: the file
is byte for byte the one a single reader writes, and each backend sorts only its own range.

Where the cuts go: percentiles of the column in a sample of the table's blocks (``TABLESAMPLE SYSTEM``,
about ``SAMPLE_ROWS`` rows by the planner's row estimate), computed by the server in the column's own
order and collation, so ranges have about equal rows whatever the column's type or ties. A view or a
table never analysed (no estimate) is read by one reader. The ranges cover every value (the first and
last are open-ended, and the one read last takes the NULLs), so rows the sample missed are still read,
once: the cuts decide only how evenly the work is shared. Each range compares with the same text cast
to the column's type, so the ranges never overlap or leave a gap whatever the cuts.

Why one snapshot: readers that each took their own snapshot would see a row another connection
moves, inserts or deletes while the export runs in two ranges or in none. The coordinating
connection opens a REPEATABLE READ transaction and exports its snapshot (``pg_export_snapshot``);
each reader starts its transaction with ``SET TRANSACTION SNAPSHOT``, so every reader sees the
database as it was at that one moment, as one statement would. The coordinator keeps its
transaction open until the last reader has started (an exported snapshot lives as long as it).
A reader needs nothing but the snapshot's id, so it may be in another process than the holder;
a reader that comes after the holder's transaction ended gets ``SnapshotEnded``, never a snapshot
of its own: a range read at another moment would lose or repeat rows.

Why ranges of values and not ctid (block) ranges, which PostgreSQL 14+ scans directly: every export is
in the order of its columns (the key ends every order), and blocks hold rows in insertion order, so
block ranges would change the file.
"""

from __future__ import annotations

import dataclasses
import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from export_pipelines.errors import PermanentExportError
from export_pipelines.source.query import ExportQuery

# Below this many rows a reader costs more than it saves (a connection, a transaction, a statement
# planned); measured with benchmarks/export_bench.py --readers.
MIN_ROWS_PER_READER = 250_000
_SNAPSHOT_GONE = "22023"  # SET TRANSACTION SNAPSHOT's "invalid snapshot identifier": its transaction ended
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
# Rows sampled to place the cuts: each range's share of a 30,000-row sample is within about a percent of its share
# of the table.
SAMPLE_ROWS = 30_000
_ESTIMATED_ROWS = sa.text(
    "SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table) AND relkind IN ('r', 'm', 'p')"
)


class SnapshotEnded(PermanentExportError):
    """The export's snapshot ended (the transaction holding it closed, or its connection was lost) before a
    reader joined it. Permanent: no retry of this reader can read that moment again; the export is read
    again, every range in a new snapshot (in one step, the coordinator's lost connection is what is retried)."""


def reader_count(visible_rows: int, readers: int) -> int:
    """How many readers an export of ``visible_rows`` gets, at most ``readers``: small exports get one."""
    return max(1, min(readers, visible_rows // MIN_ROWS_PER_READER))


def split_points(connection: sa.Connection, query: ExportQuery, parts: int) -> tuple[str, ...]:
    """Values (as text) of the order's first column that cut ``query``'s rows into ``parts`` ranges of about
    equal rows, in the column's order; () for one reader.

    () too where the source is not PostgreSQL, and where the table has no row estimate (a view, or a
    table never analysed).
    """
    if parts < 2 or connection.dialect.name != "postgresql":
        return ()
    estimated = connection.execute(_ESTIMATED_ROWS, {"table": query.dataset.table}).scalar()
    if not estimated or estimated <= 0:
        return ()
    sample = sa.tablesample(query.table(), sa.func.system(min(100.0, 100.0 * SAMPLE_ROWS / estimated)))
    fractions = sa.literal([part / parts for part in range(1, parts)], postgresql.ARRAY(sa.Float))
    cuts = sa.func.percentile_disc(fractions).within_group(sample.c[query.order[0][0]])
    points = connection.execute(sa.select(sa.cast(cuts, postgresql.ARRAY(sa.Text)))).scalar() or ()
    return tuple(dict.fromkeys(point for point in points if point is not None))  # a value repeated: one cut


def ranged_queries(query: ExportQuery, points: tuple[str, ...]) -> list[ExportQuery]:
    """One query per range between ``points``, in the export's order (descending: the top range first)."""
    edges = [None, *points, None]
    ranges = [dataclasses.replace(query, split_range=pair) for pair in zip(edges, edges[1:])]
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
