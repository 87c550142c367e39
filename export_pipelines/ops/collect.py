"""collect_chunks: read the permitted rows chunk by chunk, with keyset pagination, into staging."""


from collections.abc import Iterator

from dagster import DynamicOut, DynamicOutput, OpExecutionContext, op

from export_pipelines.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.plan import ChunkRef, ExportPlan, staging_prefix
from export_pipelines.resources import ExportStorageResource, SourceDatabaseResource
from export_pipelines.source.fetch import chunk_schema, fetch_chunk
from export_pipelines.staging import write_chunk


@op(out=DynamicOut(ChunkRef), retry_policy=TRANSIENT_RETRY, tags={"export/step": "collect"})
def collect_chunks(
    context: OpExecutionContext, plan: ExportPlan, source: SourceDatabaseResource, storage: ExportStorageResource
) -> Iterator[DynamicOutput[ChunkRef]]:
    """Stage the export's rows as Arrow chunks of ``chunk_size`` rows, one dynamic output each.

    Each chunk query starts after the last (sort value, key) of the previous chunk, so every
    chunk costs the same however deep into the table it is, and only one chunk is in memory.
    At least one chunk is always emitted so that an export with no rows still renders a file.
    """
    query, size = plan.query, plan.request.chunk_size
    schema = chunk_schema(query.dataset, query.fetched_columns)
    sort_index = query.fetched_columns.index(query.sort_column) if query.sort_column else None
    key_index = query.fetched_columns.index(query.dataset.key)
    target = storage.get()
    after, index, total = None, 0, 0
    with permanent_errors_fail_fast(context), source.connect() as connection:
        dialect = connection.dialect.name
        while True:
            table = fetch_chunk(connection, query.chunk_statement(dialect, size, after), schema)
            if table.num_rows or index == 0:
                key = f"{staging_prefix(context.run_id)}/raw/chunk-{index:06d}.arrow"
                write_chunk(target, key, table)
                total += table.num_rows
                yield DynamicOutput(ChunkRef(index, key, table.num_rows), mapping_key=f"chunk_{index:06d}")
                index += 1
            if table.num_rows < size:
                break
            last = table.slice(table.num_rows - 1)
            after = (
                last.column(sort_index)[0].as_py() if sort_index is not None else None,
                last.column(key_index)[0].as_py(),
            )
    context.log.info(f"Staged {total:,} rows in {index} chunk(s) of up to {size:,} rows.")
