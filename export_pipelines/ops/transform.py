"""transform_chunk: shape one staged chunk into the columns, order and time zone of the output."""


import pyarrow as pa
from dagster import OpExecutionContext, Out, op

from export_pipelines.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.plan import ChunkRef, ExportPlan, staging_prefix
from export_pipelines.resources import ExportStorageResource
from export_pipelines.staging import read_chunk, write_chunk


def shape_table(table: pa.Table, plan: ExportPlan) -> pa.Table:
    """Keep the requested columns in the requested order, typed by the catalog, timestamps in the
    request's time zone. Formats only decide how values are written, never which values."""
    arrays, fields = [], []
    for column in plan.output_columns:
        array = table.column(column.name)
        target = column.arrow_type
        if column.type == "timestamp":
            target = pa.timestamp("us", tz=plan.request.timezone)
        arrays.append(array.cast(target) if array.type != target else array)
        fields.append(pa.field(column.name, target))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


@op(out=Out(ChunkRef), retry_policy=TRANSIENT_RETRY, tags={"export/step": "transform"})
def transform_chunk(
    context: OpExecutionContext, plan: ExportPlan, chunk: ChunkRef, storage: ExportStorageResource
) -> ChunkRef:
    """Shape one chunk (see ``shape_table``) and stage it for rendering; the raw chunk is removed."""
    target = storage.get()
    with permanent_errors_fail_fast(context):
        raw = read_chunk(target, chunk.key)
        shaped = shape_table(raw, plan)
    if shaped.schema.equals(raw.schema):  # nothing to change: render reads the staged chunk as is
        return chunk
    key = f"{staging_prefix(context.run_id)}/ready/chunk-{chunk.index:06d}.arrow"
    write_chunk(target, key, shaped)
    target.delete_prefix(chunk.key)
    return ChunkRef(chunk.index, key, shaped.num_rows)
