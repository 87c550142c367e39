"""Executors: where the steps of an export run.

The embedded default runs every step in the run's own process. The multiprocess executor is a
choice, not the default: it starts a process per step (2 to 4 s each measured here), which costs
more than most chunks take. The choice is run config, read when the run starts, so the launchpad
and any launch path can pick per run without the code location's environment deciding it.
"""

from __future__ import annotations

from dagster import Field, Selector, executor, in_process_executor, multiprocess_executor
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements

_MODES = {"in_process": in_process_executor, "multiprocess": multiprocess_executor}


def _requirements(config):
    return multiple_process_executor_requirements() if "multiprocess" in config else []


@executor(
    name="embedded_executor",
    config_schema=Field(
        Selector({mode: definition.config_schema.as_field() for mode, definition in _MODES.items()}),
        default_value={"in_process": {}},
        description="in_process (default: no extra processes) or multiprocess (a process per step).",
    ),
    requirements=_requirements,
)
def embedded_executor(init_context):
    """Run steps in process by default, or in a process each with ``multiprocess``."""
    (mode, mode_config), = init_context.executor_config.items()
    definition = _MODES[mode]
    return definition.executor_creation_fn(init_context._replace(executor_def=definition, executor_config=mode_config))
