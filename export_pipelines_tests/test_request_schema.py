"""The request's schema as the launchpad sees it: choices as enums, and a complete example to start from."""

from __future__ import annotations

import pytest
from dagster import DagsterInvalidConfigError

from export_pipelines.automation.admission import VIA_WEBSERVER, GateSettings, admit
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.formats import registered_formats
from export_pipelines.request.model import FORMATS, ExportRequest, request_from_run_config
from export_pipelines.request.validation import check_request
from export_pipelines.run.jobs import EXAMPLE_REQUEST, export_job


def test_the_format_choices_are_exactly_the_registered_formats():
    assert set(FORMATS) == set(registered_formats()), "a new format module must add its name to request.FormatName"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("format", "xml", "root:ops:validate_request:config:format"),
        ("compression", "rar", "root:ops:validate_request:config:compression"),
    ],
)
def test_the_job_schema_flags_a_typo_in_a_choice(field, value, path):
    run_config = EXAMPLE_REQUEST.run_config()
    run_config["ops"]["validate_request"]["config"][field] = value

    with pytest.raises(DagsterInvalidConfigError) as refused:
        export_job.execute_in_process(run_config=run_config)

    assert f"Value at path {path} not in enum type" in str(refused.value)


def test_the_launchpad_starts_from_a_complete_valid_request(dagster_home):
    default = export_job.run_config

    request = request_from_run_config(default)

    assert request == ExportRequest(user="analyst", dataset="orders")
    check_request(request, load_catalog())
    assert admit(_instance(), default, {}, VIA_WEBSERVER, GateSettings(trust_unsigned=True)).request == request


def test_the_job_says_who_an_export_runs_as():
    assert "request token signed by the application" in export_job.description
    assert "trusts unsigned submissions" in export_job.description


def _instance():
    from dagster import DagsterInstance

    return DagsterInstance.get()
