"""The Dagster family must move together: a mismatched install fails here, not at a user's import."""

from __future__ import annotations

import importlib
from importlib.metadata import version

import pytest

INTEGRATIONS = ["dagster_webserver", "dagster_graphql", "dagster_postgres", "dagster_celery", "dagster_aws"]


@pytest.mark.parametrize("module", INTEGRATIONS)
def test_every_integration_imports(module):
    assert importlib.import_module(module).__version__


def test_dagster_family_versions_match():
    core = version("dagster")
    minor = int(core.split(".")[1])
    patch = core.split(".")[2]
    assert version("dagster-webserver") == version("dagster-graphql") == core
    # Integration libraries are versioned 0.(minor+16).patch against dagster 1.minor.patch.
    for library in ("dagster-postgres", "dagster-celery", "dagster-aws"):
        assert version(library) == f"0.{minor + 16}.{patch}", library


def test_code_location_loads_the_export_job():
    from export_pipelines.definitions import defs

    job = defs.resolve_job_def("export_job")
    assert [node.name for node in job.nodes_in_topological_order] == [
        "validate_request", "collect_chunks", "transform_chunk", "render_file", "upload_file", "notify_recipients",
    ]  # fmt: skip
