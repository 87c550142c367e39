"""collect_chunks: read the permitted rows, in order, into staging chunk by chunk."""

import dataclasses
from collections.abc import Iterator
from contextlib import closing

import pyarrow as pa
import sqlalchemy as sa
from dagster import DynamicOut, DynamicOutput, OpExecutionContext, op

from export_pipelines.formats.base import ChunkEncodingRenderer
from export_pipelines.request.plan import ChunkRef, ExportPlan, data_prefix
from export_pipelines.run.ops.admitted import require_admission
from export_pipelines.run.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.run.ops.progress import ProgressReporter
from export_pipelines.run.readers import staged_by_readers
from export_pipelines.run.resources import ExportStorageResource, SourceDatabaseResource
from export_pipelines.run.shaping import chunk_encoder, shape_table, shaped_schema
from export_pipelines.run.staging import write_chunk
from export_pipelines.settings import server_text_enabled
from export_pipelines.source.fetch import COPY_BLOCKS_AHEAD, keyset_chunks
from export_pipelines.source.query import ExportQuery
from export_pipelines.source.run_ahead import run_ahead
from export_pipelines.source.server_text import chunk_rows, server_text_chunks
from export_pipelines.storage import Storage


@op(out=DynamicOut(ChunkRef), retry_policy=TRANSIENT_RETRY, tags={"export/step": "collect"})
def collect_chunks(
    context: OpExecutionContext, plan: ExportPlan, source: SourceDatabaseResource, storage: ExportStorageResource
) -> Iterator[DynamicOutput[ChunkRef]]:
    """Stage the export's rows in chunks of ``chunk_size`` rows, one dynamic output each.

    One chunk at a time is in memory (``keyset_chunks``: one COPY on PostgreSQL, keyset pages
    elsewhere). At least one chunk is always emitted so that an export with no rows still renders a file.

    Where the PostgreSQL server can write a format's bytes itself (CSV and JSON Lines with most
    options: ``formats.base.ServerText``), its COPY output is staged as it arrives: no row is
    parsed or encoded in this process, and chunks hold at least ``$EXPORT_SERVER_CHUNK_ROWS`` rows.
    Otherwise formats that encode chunks on their own (CSV, JSON, JSON Lines) shape and encode each
    chunk here, as soon as its rows arrive, while the database produces the next one. Other formats stage Arrow rows.

    A large export on PostgreSQL is read by several connections at once, a range of the order's first
    column each (the key, or the first sort column), all in one snapshot (``run.readers``,
    ``source.read_ranges``); the chunks come out numbered in export order, the same rows in the same
    order as one reader stages.

    Rows staged of the plan's ``visible_rows`` are published about once a second (``ops.progress``).
    """
    require_admission(context, plan.request)
    # Everything inside the guard: a bug or a bad setting fails at once, not after three retries.
    with permanent_errors_fail_fast(context):
        target = storage.get()
        progress = ProgressReporter(context, "collect", plan.visible_rows)
        stage = _ChunkStager(plan, target, context.run_id)
        if stage.parallel:
            staged = iter(staged_by_readers(source, plan, stage, progress.advance))
        else:
            staged = _staged_by_one_reader(source, plan, stage, progress.advance)
        chunks = yield from _outputs(staged)
        progress.finish()
    rows, readers = sum(chunk.rows for chunk in chunks), len(plan.read_split_points) + 1 if stage.parallel else 1
    context.log.info(
        f"Staged {rows:,} rows in {len(chunks)} chunk(s) of up to {max(chunk.rows for chunk in chunks):,} rows, "
        f"{readers} reader(s)."
    )


def _staged_by_one_reader(source, plan: ExportPlan, stage, advance) -> Iterator[ChunkRef]:
    with (
        source.connect() as connection,
        # Closed before the connection is given back, even on error: a thread may be reading on it.
        closing(stage(connection, plan.query, "")) as staged,
    ):
        for chunk in staged:
            advance(chunk.rows)
            yield chunk


def _outputs(staged: Iterator[ChunkRef]):
    """Each chunk's output as soon as the next is staged (one behind, so the last can say it is the last), so the
    run's history shows what was staged before a failure; returns the chunks."""
    chunks: list[ChunkRef] = []
    for chunk in staged:
        if chunks:
            yield _output(chunks[-1])
        chunks.append(chunk)
    yield _output(dataclasses.replace(chunks[-1], last=True))
    return chunks


def _output(chunk: ChunkRef) -> DynamicOutput[ChunkRef]:
    return DynamicOutput(chunk, mapping_key=f"chunk_{chunk.index:06d}")


class _ChunkStager:
    """Stages one query's chunks (the export's, or one reader's range of it) under keys starting with a name.

    The server's own bytes where it can write them, else rows read and encoded here (or staged as Arrow
    rows). ``parallel``: whether ranges may be staged by several readers. Not when rows are encoded here:
    a chunk's encoding is told how many rows precede it (row numbers in errors), which a range cannot know.
    For the same reason a range whose server cannot write the text after all stages Arrow rows, which
    render_file encodes in order.
    """

    def __init__(self, plan: ExportPlan, target: Storage, run_id: str):
        self.plan, self.target, self.prefix = plan, target, data_prefix(run_id)
        self.encoder = chunk_encoder(plan, run_id)
        encoder = self.encoder
        self.text = encoder.server_text() if encoder is not None and server_text_enabled() else None
        self.parallel = bool(plan.read_split_points) and (encoder is None or self.text is not None)

    def __call__(self, connection: sa.Connection, query: ExportQuery, name: str) -> Iterator[ChunkRef]:
        size, encoder = self.plan.request.chunk_size, self.encoder
        written = server_text_chunks(connection, query, self.text, chunk_rows(size)) if self.text is not None else None
        if written is not None:
            return _stage_written(written, self.target, f"{self.prefix}/ready/{name}", encoder.extension)
        encoder = None if query.split_range is not None else encoder  # a range: see the class docstring
        tables = keyset_chunks(connection, query, size)
        return _stage_rows(tables, self.target, self.prefix, name, encoder, shaped_schema(self.plan))


def _stage_written(written: Iterator, target: Storage, start: str, extension: str) -> Iterator[ChunkRef]:
    """Stage the bytes the server wrote: a thread reads the COPY, each block goes into its chunk's file as it is."""
    with closing(run_ahead(written, COPY_BLOCKS_AHEAD)) as items:
        index = 0
        for item in items:  # a chunk's first block, or its row count when it has no rows (an empty export)
            key = f"{start}chunk-{index:06d}.{extension}"
            with _chunk_file(target, key) as output:
                while not isinstance(item, int):
                    output.write(item)
                    item = next(items)
            yield ChunkRef(index, key, item, encoded=True)
            index += 1


def _stage_rows(
    tables: Iterator[pa.Table], target: Storage, prefix: str, name: str, encoder, schema
) -> Iterator[ChunkRef]:
    """Stage chunks of rows: encoded here (shaped first) for formats that encode chunks, else as Arrow rows."""
    index = total = 0
    with closing(tables):
        for table in tables:
            if not table.num_rows and index:  # the keyset walk's last, empty, query
                continue
            if encoder is None:
                chunk = ChunkRef(index, f"{prefix}/raw/{name}chunk-{index:06d}.arrow", table.num_rows)
                write_chunk(target, chunk.key, table)
            else:
                shaped = shape_table(table, schema)
                chunk = _stage_encoded(target, f"{prefix}/ready/{name}", index, shaped, encoder, total)
            total += table.num_rows
            index += 1
            yield chunk


def _stage_encoded(
    target: Storage, start: str, index: int, table: pa.Table, encoder: ChunkEncodingRenderer, first_row: int
) -> ChunkRef:
    key = f"{start}chunk-{index:06d}.{encoder.extension}"
    with _chunk_file(target, key) as output:
        output.write(encoder.encode_chunk(table, first_row))
    return ChunkRef(index, key, table.num_rows, encoded=True)


def _chunk_file(target: Storage, key: str):
    return target.open_write(key, checksum=False)  # staged for one run: nobody checks it
