"""collect_chunks: read the permitted rows chunk by chunk, with keyset pagination, into staging."""


from collections.abc import Iterator

from dagster import DynamicOut, DynamicOutput, OpExecutionContext, op

from export_pipelines.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.plan import ChunkRef, ExportPlan, staging_prefix
from export_pipelines.resources import ExportStorageResource, SourceDatabaseResource
from export_pipelines.source.fetch import keyset_chunks
from export_pipelines.staging import write_chunk


@op(out=DynamicOut(ChunkRef), retry_policy=TRANSIENT_RETRY, tags={"export/step": "collect"})
def collect_chunks(
    context: OpExecutionContext, plan: ExportPlan, source: SourceDatabaseResource, storage: ExportStorageResource
) -> Iterator[DynamicOutput[ChunkRef]]:
    """Stage the export's rows as Arrow chunks of ``chunk_size`` rows, one dynamic output each.

    Keyset pagination (see ``keyset_chunks``) keeps one chunk in memory at a time. At least one
    chunk is always emitted so that an export with no rows still renders a file.
    """
    target = storage.get()
    index, total = 0, 0
    with permanent_errors_fail_fast(context), source.connect() as connection:
        for table in keyset_chunks(connection, plan.query, plan.request.chunk_size):
            if table.num_rows or index == 0:
                key = f"{staging_prefix(context.run_id)}/raw/chunk-{index:06d}.arrow"
                write_chunk(target, key, table)
                total += table.num_rows
                yield DynamicOutput(ChunkRef(index, key, table.num_rows), mapping_key=f"chunk_{index:06d}")
                index += 1
    context.log.info(f"Staged {total:,} rows in {index} chunk(s) of up to {plan.request.chunk_size:,} rows.")
