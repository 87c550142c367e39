"""Step outputs through the export's own storage: what lets a run span machines with nothing shared on disk.

Ops pass small values (a plan, chunk references); Dagster stores each through an IO manager so
that the next step, maybe on another Celery worker, can load it. Dagster's default keeps them in
a folder under ``$DAGSTER_HOME`` on the machine that ran the step. This one writes them through
``ExportStorageResource`` instead: encrypted like every other stored byte (a plan holds the
request's filter values), and in the bucket when storage is S3.

Why not dagster-aws's ``s3_pickle_io_manager``: it writes plaintext pickles, works with S3 only
(the embedded default is a folder), and would be a second set of credentials and settings to keep
in step with the storage URL. Outputs live under the run's staging prefix, so the clean-up that
removes staging removes them too.
"""

from __future__ import annotations

import pickle

from dagster import ConfigurableIOManager, InputContext, OutputContext

from export_pipelines.request.plan import staging_prefix
from export_pipelines.run.ops.common import permanent_errors_fail_fast
from export_pipelines.run.resources import ExportStorageResource

OUTPUTS_FOLDER = "outputs"


def output_key(run_id: str, step_key: str, name: str, mapping_key: str | None = None) -> str:
    """``_staging/<run>/outputs/<step>/<output>[/<mapping key>]``; brackets of mapped step keys become ()."""
    step = step_key.replace("[", "(").replace("]", ")")
    key = f"{staging_prefix(run_id)}/{OUTPUTS_FOLDER}/{step}/{name}"
    return f"{key}/{mapping_key}" if mapping_key else key


def outputs_prefix(run_id: str) -> str:
    return f"{staging_prefix(run_id)}/{OUTPUTS_FOLDER}"


class StepOutputIOManager(ConfigurableIOManager):
    """Pickles step outputs (never rows: plans and references) into the export storage, encrypted."""

    storage: ExportStorageResource

    # Loading and storing run under the step's retry policy too: only transient errors may spend it.
    def handle_output(self, context: OutputContext, obj) -> None:
        run_id, step_key, name, *mapping = context.get_identifier()
        key = output_key(run_id, step_key, name, *mapping)
        with permanent_errors_fail_fast(), self.storage.get().open_write(key, checksum=False) as target:
            target.write(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    def load_input(self, context: InputContext):
        upstream = context.upstream_output
        run_id, step_key, name, *mapping = upstream.get_identifier()
        key = output_key(run_id, step_key, name, *mapping)
        with permanent_errors_fail_fast(), self.storage.get().open_read(key) as source:
            return pickle.loads(source.read())  # noqa: S301 - our own outputs, authenticated by AEAD
