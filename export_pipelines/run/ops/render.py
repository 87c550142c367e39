"""render_file: stream every shaped chunk, in order, into one file of the requested format."""

from datetime import UTC, datetime

from dagster import OpExecutionContext, Out, op

from export_pipelines.formats import renderer_class
from export_pipelines.formats.compression import SUFFIXES, compressed
from export_pipelines.request.plan import (
    ChunkRef,
    ExportPlan,
    RenderedFile,
    complete_chunks,
    data_prefix,
    published_key,
)
from export_pipelines.run.ops.admitted import require_admission
from export_pipelines.run.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.run.ops.progress import ProgressReporter
from export_pipelines.run.resources import ExportStorageResource
from export_pipelines.run.shaping import render_context
from export_pipelines.run.staging import read_chunk
from export_pipelines.scaleout.celery_settings import QUEUE_TAG, RENDER_QUEUE


def export_file_name(plan: ExportPlan, started: datetime) -> str:
    return f"{plan.query.dataset.name}-{started:%Y%m%dT%H%M%SZ}.{plan.file_extension}"


@op(
    out=Out(RenderedFile),
    retry_policy=TRANSIENT_RETRY,
    # On Celery, the heavy step has a queue of its own so operators can size its workers apart.
    tags={"export/step": "render", QUEUE_TAG: RENDER_QUEUE},
)
def render_file(
    context: OpExecutionContext, plan: ExportPlan, chunks: list[ChunkRef], storage: ExportStorageResource
) -> RenderedFile:
    """Write the file chunk after chunk: one chunk in memory at a time, whatever the row count.

    Chunks that collect_chunks encoded already are joined as they are, between the format's
    beginning and end (header, brackets); the others are encoded here.

    The file is written to staging under a temporary name and appears there only when complete.
    It is encrypted bound to the key it will be published under, so publishing moves ciphertext.
    The chunks stay staged until upload_file has published the file: a retry of this step (after an
    attempt that wrote the file, then failed) reads them again.
    Rows written are published about once a second (``ops.progress``).
    """
    require_admission(context, plan.request)
    request = plan.request
    name = export_file_name(plan, datetime.now(UTC))
    key = f"{data_prefix(context.run_id)}/{name}"
    rows = 0
    compression = plan.compression  # chosen once, in validation, so every worker renders the same file
    entry_name = name.removesuffix(SUFFIXES["zip"])  # the file inside a zip archive
    publish_as = published_key(context.run_id, name)
    progress = ProgressReporter(context, "render", sum(chunk.rows for chunk in chunks))
    with permanent_errors_fail_fast(context):
        ordered = complete_chunks(chunks)  # before anything is written
        target = storage.get()
        with target.open_write(key, bound_to=publish_as) as output:
            with compressed(output.stream, compression, entry_name) as stream:
                renderer = renderer_class(request.format)(stream, render_context(plan, context.run_id))
                for chunk in ordered:
                    if chunk.encoded:  # encoded by collect_chunks: the bytes go in as they are
                        with target.open_read(chunk.key) as staged:
                            renderer.write_encoded_from(staged)
                    else:
                        renderer.write(read_chunk(target, chunk.key))
                    rows += chunk.rows
                    progress.advance(chunk.rows)
                renderer.close()
    progress.finish()
    context.add_output_metadata(
        {"rows": rows, "bytes": output.result.bytes, "format": request.format, "compression": compression}
    )
    return RenderedFile(key, name, rows, output.result.bytes, output.result.sha256, output.result.key_id)
