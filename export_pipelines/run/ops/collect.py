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
from export_pipelines.run.resources import ExportStorageResource, SourceDatabaseResource
from export_pipelines.run.shaping import chunk_encoder, shape_table, shaped_schema
from export_pipelines.run.staging import write_chunk
from export_pipelines.settings import server_text_enabled
from export_pipelines.source.fetch import COPY_BLOCKS_AHEAD, keyset_chunks
from export_pipelines.source.run_ahead import run_ahead
from export_pipelines.source.server_text import server_text_chunks
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
    parsed or encoded in this process. Otherwise formats that encode chunks on their own (CSV,
    JSON, JSON Lines) shape and encode each chunk here, as soon as its rows arrive, while the
    database produces the next one. Other formats stage Arrow rows.

    Rows staged of the plan's ``visible_rows`` are published about once a second (``ops.progress``).
    """
    require_admission(context, plan.request)
    index, total, pending = 0, 0, None
    # Everything inside the guard: a bug or a bad setting fails at once, not after three retries.
    with permanent_errors_fail_fast(context):
        target = storage.get()
        progress = ProgressReporter(context, "collect", plan.visible_rows)
        with (
            source.connect() as connection,
            # Closed before the connection is given back, even on error: a thread may be reading on it.
            closing(_staged_chunks(connection, plan, target, context.run_id)) as staged,
        ):
            for chunk in staged:
                total += chunk.rows
                progress.advance(chunk.rows)
                if pending is not None:  # one chunk behind, so the last one can say it is the last
                    yield _output(pending)
                pending = chunk
                index += 1
        yield _output(dataclasses.replace(pending, last=True))
        progress.finish()
    context.log.info(f"Staged {total:,} rows in {index} chunk(s) of up to {plan.request.chunk_size:,} rows.")


def _output(chunk: ChunkRef) -> DynamicOutput[ChunkRef]:
    return DynamicOutput(chunk, mapping_key=f"chunk_{chunk.index:06d}")


def _staged_chunks(connection: sa.Connection, plan: ExportPlan, target: Storage, run_id: str) -> Iterator[ChunkRef]:
    """Every chunk, staged: the server's own bytes where it can write them, else rows read and encoded here."""
    size, prefix = plan.request.chunk_size, data_prefix(run_id)
    encoder = chunk_encoder(plan, run_id)
    text = encoder.server_text() if encoder is not None and server_text_enabled() else None
    written = server_text_chunks(connection, plan.query, text, size) if text is not None else None
    if written is not None:
        return _stage_written(written, target, f"{prefix}/ready", encoder.extension)
    return _stage_rows(keyset_chunks(connection, plan.query, size), target, prefix, encoder, shaped_schema(plan))


def _stage_written(written: Iterator, target: Storage, folder: str, extension: str) -> Iterator[ChunkRef]:
    """Stage the bytes the server wrote: a thread reads the COPY, each block goes into its chunk's file as it is."""
    with closing(run_ahead(written, COPY_BLOCKS_AHEAD)) as items:
        index = 0
        for item in items:  # a chunk's first block, or its row count when it has no rows (an empty export)
            key = f"{folder}/chunk-{index:06d}.{extension}"
            with _chunk_file(target, key) as output:
                while not isinstance(item, int):
                    output.write(item)
                    item = next(items)
            yield ChunkRef(index, key, item, encoded=True)
            index += 1


def _stage_rows(tables: Iterator[pa.Table], target: Storage, prefix: str, encoder, schema) -> Iterator[ChunkRef]:
    """Stage chunks of rows: encoded here (shaped first) for formats that encode chunks, else as Arrow rows."""
    index = total = 0
    with closing(tables):
        for table in tables:
            if not table.num_rows and index:  # the keyset walk's last, empty, query
                continue
            if encoder is None:
                chunk = ChunkRef(index, f"{prefix}/raw/chunk-{index:06d}.arrow", table.num_rows)
                write_chunk(target, chunk.key, table)
            else:
                chunk = _stage_encoded(target, f"{prefix}/ready", index, shape_table(table, schema), encoder, total)
            total += table.num_rows
            index += 1
            yield chunk


def _stage_encoded(
    target: Storage, folder: str, index: int, table: pa.Table, encoder: ChunkEncodingRenderer, first_row: int
) -> ChunkRef:
    key = f"{folder}/chunk-{index:06d}.{encoder.extension}"
    with _chunk_file(target, key) as output:
        output.write(encoder.encode_chunk(table, first_row))
    return ChunkRef(index, key, table.num_rows, encoded=True)


def _chunk_file(target: Storage, key: str):
    return target.open_write(key, checksum=False)  # staged for one run: nobody checks it
