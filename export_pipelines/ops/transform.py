"""transform_chunk: shape one staged chunk into the columns, order and time zone of the output."""


import pyarrow as pa
from dagster import OpExecutionContext, Out, op

from export_pipelines.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.plan import ChunkRef, ExportPlan, staging_prefix
from export_pipelines.resources import ExportStorageResource
from export_pipelines.staging import read_chunk, read_chunk_schema, write_chunk


def shaped_schema(plan: ExportPlan) -> pa.Schema:
    """The requested columns in the requested order, typed by the catalog, timestamps in the
    request's time zone. Formats only decide how values are written, never which values."""
    fields = []
    for column in plan.output_columns:
        target = column.arrow_type
        if column.type == "timestamp":
            target = pa.timestamp("us", tz=plan.request.timezone)
        fields.append(pa.field(column.name, target))
    return pa.schema(fields)


def shape_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the columns of ``schema``, in its order, cast to its types."""
    arrays = []
    for field in schema:
        array = table.column(field.name)
        arrays.append(array.cast(field.type) if array.type != field.type else array)
    return pa.Table.from_arrays(arrays, schema=schema)


@op(out=Out(ChunkRef), retry_policy=TRANSIENT_RETRY, tags={"export/step": "transform"})
def transform_chunk(
    context: OpExecutionContext, plan: ExportPlan, chunk: ChunkRef, storage: ExportStorageResource
) -> ChunkRef:
    """Shape one chunk (see ``shaped_schema``) and stage it for rendering; the raw chunk is removed.

    A chunk that already has the output's shape (every column, in order, UTC requested) is passed
    on as it is: its header tells, so none of its rows is read.
    """
    target = storage.get()
    schema = shaped_schema(plan)
    with permanent_errors_fail_fast(context):
        if read_chunk_schema(target, chunk.key).equals(schema):
            return chunk
        shaped = shape_table(read_chunk(target, chunk.key), schema)
    key = f"{staging_prefix(context.run_id)}/ready/chunk-{chunk.index:06d}.arrow"
    write_chunk(target, key, shaped)
    target.delete_prefix(chunk.key)
    return ChunkRef(chunk.index, key, shaped.num_rows)
