"""One export staged by several readers at once: a thread per key range, every one in the same snapshot.

The ranges and the snapshot are PostgreSQL's side (``source.read_ranges``); this is the run's side:
each reader stages its range's chunks on its own connection, exactly as a single reader stages
the whole export, and the chunks are numbered in range order once every range is staged, so the
rest of the run sees one export's chunks in order. A reader failing stops the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import closing

import sqlalchemy as sa

from export_pipelines.request.plan import ChunkRef, ExportPlan
from export_pipelines.run.resources import SourceDatabaseResource
from export_pipelines.source.query import ExportQuery
from export_pipelines.source.read_ranges import export_snapshot, join_snapshot, ranged_queries

# stage(connection, query, name): the range's chunks, staged under keys that start with ``name``.
StageRange = Callable[[sa.Connection, ExportQuery, str], Iterator[ChunkRef]]
_FINISHED = object()


def staged_by_readers(
    source: SourceDatabaseResource, plan: ExportPlan, stage: StageRange, advance: Callable[[int], None]
) -> list[ChunkRef]:
    """Every range of ``plan`` staged by its own reader: the export's chunks, numbered in export order.

    ``advance(rows)`` is called in the caller's thread as each chunk is staged (progress).
    """
    queries = ranged_queries(plan.query, plan.read_split_points)
    staged: list[list[ChunkRef]] = [[] for _ in queries]
    with source.connect() as coordinator:
        snapshot = export_snapshot(coordinator)
        events: queue.Queue = queue.Queue()
        stop = threading.Event()

        def read(part: int, query: ExportQuery) -> None:
            try:
                with closing(read_range(source, snapshot, part, query, stage)) as chunks:
                    for chunk in chunks:
                        events.put((part, chunk))
                        if stop.is_set():
                            return
                events.put((part, _FINISHED))
            except BaseException as error:  # raised by the consumer
                events.put((part, error))

        readers = [threading.Thread(target=read, args=(part, query), name=f"export-reader-{part}", daemon=True)
                   for part, query in enumerate(queries)]  # fmt: skip
        for reader in readers:
            reader.start()
        try:
            running = len(readers)
            while running:
                part, item = events.get()
                if item is _FINISHED:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    staged[part].append(item)
                    advance(item.rows)
        finally:
            stop.set()
            for reader in readers:
                reader.join()
    return numbered(staged)


def read_range(
    source: SourceDatabaseResource, snapshot: str, part: int, query: ExportQuery, stage: StageRange
) -> Iterator[ChunkRef]:
    """Range ``part`` of an export, read on a connection of its own in ``snapshot``: its chunks, as it stages them.

    It needs only the snapshot's id, so it reads the same rows in any process, while the snapshot's holder keeps
    its transaction open (else ``SnapshotEnded``). Its chunks are staged under keys of their own (``part-NNN-``),
    so a range read again overwrites its own chunks and no other range's.
    """
    with source.connect() as connection:
        join_snapshot(connection, snapshot)
        with closing(stage(connection, query, f"part-{part:03d}-")) as chunks:
            yield from chunks


def numbered(staged: list[list[ChunkRef]]) -> list[ChunkRef]:
    """The ranges' chunks, numbered in export order: the chunks of the first range, then the next's...

    A range with no rows has staged one empty chunk, like any reader; it is left out unless every
    range is empty, so an empty export still has its one chunk.
    """
    chunks = [chunk for part in staged for chunk in part]
    kept = [chunk for chunk in chunks if chunk.rows] or chunks[:1]
    return [ChunkRef(index, chunk.key, chunk.rows, chunk.encoded) for index, chunk in enumerate(kept)]
