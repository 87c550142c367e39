"""What a chunk becomes on its way to the file: the output's shape, and for some formats its bytes.

The shape (columns, order, types, time zone) is the same whatever the format; formats only
decide how values are written. Formats that encode chunks on their own (``ChunkEncodingRenderer``)
can turn a shaped chunk into its final bytes anywhere, so an export does it as soon as the rows
are read (see collect_chunks).
"""

from __future__ import annotations

import pyarrow as pa

from export_pipelines.formats import RenderContext, renderer_class
from export_pipelines.formats.base import ChunkEncodingRenderer
from export_pipelines.request.plan import ExportPlan


def shaped_schema(plan: ExportPlan) -> pa.Schema:
    """The requested columns in the requested order, typed by the catalog, timestamps in the
    request's time zone."""
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


def render_context(plan: ExportPlan, export_id: str) -> RenderContext:
    request = plan.request
    return RenderContext(
        plan.output_columns,
        request.format_options,
        plan.title,
        request.timezone,
        export_id=export_id,
        filters=plan.filter_descriptions(),
        user=request.user,
        display=plan.display,
    )


def chunk_encoder(plan: ExportPlan, export_id: str) -> ChunkEncodingRenderer | None:
    """A stream-less renderer whose ``encode_chunk`` gives a chunk's bytes; None if the format cannot."""
    renderer_type = renderer_class(plan.request.format)
    if not renderer_type.encodes_chunks:
        return None
    return renderer_type(None, render_context(plan, export_id))
