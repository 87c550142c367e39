"""Executors: where the steps of an export run, chosen per run by run config.

``export_executor`` is a selector over three modes:

- ``in_process`` (the default): every step in the run's own process; no service needed.
- ``multiprocess``: a process per step (2 to 4 s each measured here), so it pays only for very
  large chunks on several cores.
- ``celery``: steps are Celery tasks on workers listening to Redis (see ``export_pipelines.scaleout.celery_settings``).

The choice is run config read when the run starts, never an environment variable read when the
code location loads: a Celery worker re-imports the job with its own environment, and a
definition-time switch would make it build a different job from the launcher's.
"""

from __future__ import annotations

from dagster import Executor, Field, Selector, Shape, executor, in_process_executor, multiprocess_executor
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from dagster_celery import celery_executor

from export_pipelines.observability.code_version import CODE_VERSION_TAG, code_version
from export_pipelines.scaleout.celery_settings import CELERY_EXTRA_CONFIG, prepare_celery_config

_MODES = {"in_process": in_process_executor, "multiprocess": multiprocess_executor, "celery": celery_executor}


def _mode_field(mode: str) -> Field:
    if mode == "celery":
        fields = {**celery_executor.config_schema.config_type.fields, **CELERY_EXTRA_CONFIG}
        return Field(Shape(fields), description="Steps run on Celery workers (broker and backend: Redis).")
    return _MODES[mode].config_schema.as_field()


def _requirements(config):
    return multiple_process_executor_requirements() if "in_process" not in config else []


@executor(
    name="export_executor",
    config_schema=Field(
        Selector({mode: _mode_field(mode) for mode in _MODES}),
        default_value={"in_process": {}},
        description="in_process (default), multiprocess (a process per step) or celery (workers over Redis).",
    ),
    requirements=_requirements,
)
def export_executor(init_context):
    """Build the executor of the chosen mode; for Celery, check that workers are listening first."""
    ((mode, mode_config),) = init_context.executor_config.items()
    if mode == "celery":
        mode_config = prepare_celery_config(mode_config)
    definition = _MODES[mode]
    inner = definition.executor_creation_fn(init_context._replace(executor_def=definition, executor_config=mode_config))
    return CodeVersionTaggingExecutor(inner)


class CodeVersionTaggingExecutor(Executor):
    """Tags the run with the orchestrating process's code version before any step starts.

    Steps compare the tag with their own code (see ``code_version``), which is how a Celery worker
    still running the previous deploy is caught instead of quietly running old code.
    """

    def __init__(self, inner: Executor):
        self._inner = inner

    def __getattr__(self, name):
        # The Celery loop reads executor-specific attributes (app_args) from the job's executor.
        return getattr(self._inner, name)

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        plan_context.instance.add_run_tags(plan_context.run_id, {CODE_VERSION_TAG: code_version()})
        yield from self._inner.execute(plan_context, execution_plan)
