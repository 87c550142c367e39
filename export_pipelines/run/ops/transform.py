"""transform_chunk: shape one staged chunk into the columns, order and time zone of the output."""


import dataclasses

from dagster import OpExecutionContext, Out, op

from export_pipelines.request.plan import ChunkRef, ExportPlan, data_prefix
from export_pipelines.run.ops.admitted import require_admission
from export_pipelines.run.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.run.resources import ExportStorageResource
from export_pipelines.run.shaping import shape_table, shaped_schema
from export_pipelines.run.staging import read_chunk, read_chunk_schema, write_chunk


@op(out=Out(ChunkRef), retry_policy=TRANSIENT_RETRY, tags={"export/step": "transform"})
def transform_chunk(
    context: OpExecutionContext, plan: ExportPlan, chunk: ChunkRef, storage: ExportStorageResource
) -> ChunkRef:
    """Shape one chunk (see ``shaping.shaped_schema``) and stage it for rendering; the raw chunk is removed.

    Two kinds of chunk pass on untouched: chunks collect_chunks already encoded (formats that
    encode chunks on their own), and chunks already in the output's shape (every column, in
    order, UTC requested), which their header tells without a row being read.
    """
    require_admission(context, plan.request)
    if chunk.encoded:
        return chunk
    with permanent_errors_fail_fast(context):
        target = storage.get()
        key = f"{data_prefix(context.run_id)}/ready/chunk-{chunk.index:06d}.arrow"
        if not target.exists(chunk.key) and target.exists(key):
            # A retry after an attempt that staged the shaped chunk (written whole or not at all) and removed
            # the raw one, then failed (writing its events, say): the shaped chunk is this step's output.
            return dataclasses.replace(chunk, key=key)
        schema = shaped_schema(plan)
        if read_chunk_schema(target, chunk.key).equals(schema):
            return chunk
        shaped = shape_table(read_chunk(target, chunk.key), schema)
        write_chunk(target, key, shaped)
        target.delete_prefix(chunk.key)
    return dataclasses.replace(chunk, key=key, rows=shaped.num_rows)
