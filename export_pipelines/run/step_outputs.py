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

Loading is also the second line of defence of sealed runs (the first: every op checks that the plan it
was handed is this run's, ``ops.admitted``). A re-execution loads the outputs of the steps it leaves out
from the run that stored them, so an output stored by another run is loaded only when that run's
admission receipt names the same user and request digest as this run's: one's own export, re-executed.
Anything else (another user's plan, another request's chunks, a run the gate never admitted) fails the
step before any op code sees the value.
"""

from __future__ import annotations

import pickle

from dagster import ConfigurableIOManager, InputContext, OutputContext
from dagster._core.errors import DagsterInvariantViolationError

from export_pipelines.request.plan import staging_prefix
from export_pipelines.run.ops.common import permanent_errors_fail_fast
from export_pipelines.run.resources import ExportStorageResource
from export_pipelines.security.receipts import NotAdmitted, read_receipt

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
        with permanent_errors_fail_fast():
            _refuse_another_admissions_output(context, run_id, f"output {name!r} of step {step_key}")
            with self.storage.get().open_read(key) as source:
                return pickle.loads(source.read())  # noqa: S301 - our own outputs, authenticated by AEAD


def _refuse_another_admissions_output(context: InputContext, stored_by: str, what: str) -> None:
    """Raise NotAdmitted unless run ``stored_by`` is this run, or was admitted for this run's user and request."""
    try:
        step = context.step_context
    except DagsterInvariantViolationError:  # a context built by hand, outside any run: nothing to compare
        return
    run_id = step.run_id
    if stored_by == run_id:
        return
    instance = step.instance
    own = read_receipt(_tags(instance, run_id), run_id)
    try:
        stored = read_receipt(_tags(instance, stored_by), stored_by)
    except NotAdmitted:
        stored = None
    if stored is None or stored.user != own.user or stored.digest != own.digest:
        whose = (
            "a run the gate never admitted"
            if stored is None
            else ("another user's run" if stored.user != own.user else "a run of another request")
        )
        raise NotAdmitted(
            f"step {step.step.key} of run {run_id} was handed the {what} stored by run {stored_by}, {whose}; a "
            f"re-execution may load only what its own user's runs of the same request stored. Nothing was loaded, "
            "read or published: re-execute only your own runs, all steps, or submit the export again"
        )


def _tags(instance, run_id: str) -> dict[str, str]:
    run = instance.get_run_by_id(run_id)
    return dict(run.tags) if run is not None else {}
