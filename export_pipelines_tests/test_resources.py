"""Resources are the deployment's: no run config can point an export elsewhere or lift a limit."""

from __future__ import annotations

import pytest
from dagster import DagsterInvalidConfigError

from export_pipelines.request.model import ExportRequest
from export_pipelines.run.jobs import export_job

OVERRIDES = {
    "source": {"url": "sqlite:////tmp/elsewhere.sqlite"},
    "catalog": {"path": "/tmp/my-catalog.yaml"},
    "storage": {"url": "s3://someone-elses-bucket/exports"},
    "limits": {"max_rows": 10**12},
}


@pytest.mark.parametrize("resource", sorted(OVERRIDES))
def test_run_config_cannot_configure_a_resource(resource, dagster_home):
    run_config = {
        **ExportRequest(user="analyst", dataset="orders").run_config(),
        "resources": {resource: {"config": OVERRIDES[resource]}},
    }

    with pytest.raises(DagsterInvalidConfigError) as refused:
        export_job.execute_in_process(run_config=run_config)

    field = next(iter(OVERRIDES[resource]))
    assert f'unexpected config entry "{field}" at path root:resources:{resource}:config' in str(refused.value)
