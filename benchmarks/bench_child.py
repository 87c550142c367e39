"""One export in a fresh process, for ``export_bench.py``: prints one JSON line of measurements.

Run by the benchmark, never by hand (though it can be, for a single figure):

    EXPORT_SOURCE_DB_URL=sqlite:///var/demo.sqlite EXPORT_DATA_DIR=/tmp/x \\
        .venv/bin/python benchmarks/bench_child.py '{"user": "admin", "dataset": "orders", "format": "csv"}'

The source, storage and data folder come from the environment, as they do for a deployed run.
The JSON line starts with ``bench_support.RESULT_MARK`` so that nothing else printed on stdout can be mistaken for it.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: the child's own start-up is reported too

import json  # noqa: E402
import sys  # noqa: E402

from bench_support import peak_rss_mb, print_result  # noqa: E402

STEP_TAG = "export/step"


def step_timings(instance, run_id: str, step_kinds: dict[str, str]) -> list[dict]:
    """Every successful step of the run: its key, its kind (the op's export/step tag) and its time.

    ``seconds`` is the duration Dagster records on STEP_SUCCESS; ``span_seconds`` runs from the
    STEP_START event to the STEP_SUCCESS event, which also covers the event writes in between.
    """
    from dagster import DagsterEventType

    starts, steps = {}, []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            node = event.step_key.split("[", 1)[0]  # transform_chunk[chunk_000003] -> transform_chunk
            steps.append(
                {
                    "step": event.step_key,
                    "kind": step_kinds.get(node, node),
                    "seconds": event.event_specific_data.duration_ms / 1000,
                    "span_seconds": entry.timestamp - starts.get(event.step_key, entry.timestamp),
                }
            )
    return steps


def plaintext_resources() -> dict:
    """The job's storage without encryption: the baseline that shows what encryption at rest costs.

    Only the benchmark builds this; a deployment has no way to turn encryption off.
    """
    from export_pipelines.run.resources import ExportStorageResource
    from export_pipelines.run.step_outputs import StepOutputIOManager

    class Unencrypted:
        """The backend, taking (and ignoring) what EncryptedStorage's signatures add."""

        def __init__(self, backend):
            self._backend = backend

        def open_write(self, key, checksum=True, bound_to=None):
            return self._backend.open_write(key, checksum)

        def open_read(self, key, bound_to=None):
            return self._backend.open_read(key)

        def __getattr__(self, name):
            return getattr(self._backend, name)

    class PlaintextStorageResource(ExportStorageResource):
        def get(self):
            return Unencrypted(self.backend())

    storage = PlaintextStorageResource()
    return {"storage": storage, "io_manager": StepOutputIOManager(storage=storage)}


def main(spec: dict) -> dict:
    import uuid

    from dagster import DagsterInstance

    from export_pipelines.request.model import ExportRequest
    from export_pipelines.run.jobs import export_job
    from export_pipelines.security.receipts import Receipt, sign_receipt

    resources = plaintext_resources() if spec.pop("plaintext", False) else None
    request = ExportRequest(**spec)
    instance = DagsterInstance.ephemeral()
    step_kinds = {node.name: node.definition.tags.get(STEP_TAG, node.name) for node in export_job.graph.nodes}
    # The gate's receipt, as the command line writes it after running the gate's checks: every step checks it.
    run_id = str(uuid.uuid4())
    receipt = Receipt(run_id, request.user, request.dataset, request.digest(), "cli")
    tags = {**request.run_tags(), **sign_receipt(receipt)}
    rss_before = peak_rss_mb()
    ready = time.perf_counter()
    # The call under measurement: the real job, end to end, on the in-process executor.
    result = export_job.execute_in_process(
        run_config=request.run_config(),
        instance=instance,
        tags=tags,
        run_id=run_id,
        raise_on_error=False,
        resources=resources,
    )
    seconds = time.perf_counter() - ready
    report = {
        "success": result.success,
        "execute_seconds": seconds,
        "startup_seconds": ready - STARTED,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "steps": step_timings(instance, result.run_id, step_kinds),
    }
    if result.success:
        delivered = result.output_for_node("upload_file")
        report.update(rows=delivered.rows, bytes=delivered.bytes, location=delivered.location)
    else:
        failure = next((e for e in result.all_events if e.is_failure), None)
        report["error"] = failure.message if failure is not None else "the run failed"
    return report


if __name__ == "__main__":
    print_result(main(json.loads(sys.argv[1])))
