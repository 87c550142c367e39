"""Format options as every path sees them: typed in the job's schema, choices as enums, one clear error per mistake.

The launchpad validates run config against the job's config schema as it is typed, so an option
with a closed set of values is an Enum there; the request model (CLI, schedules, sensors, tests)
refuses the same mistakes, naming the field and what is allowed.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import get_args

import pytest
from dagster import DagsterInstance, DagsterInvalidConfigError, validate_run_config
from dagster._config import ConfigTypeKind
from pydantic import ValidationError

from export_pipelines.automation.admission import VIA_WEBSERVER, GateSettings, SubmissionRefused, admit
from export_pipelines.cli import main
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import registered_formats
from export_pipelines.request.model import FORMAT_OPTIONS, ExportRequest, FormatOptions
from export_pipelines.run.jobs import EXAMPLE_REQUEST, export_job

FORMATS = registered_formats()


def _choices(option: str) -> tuple[str, ...] | None:
    """The values of an option with a closed set of them; None for a free value."""
    for kind in get_args(FormatOptions.model_fields[option].annotation):
        if isinstance(kind, type) and issubclass(kind, Enum):
            return tuple(member.value for member in kind)
    return None


CHOICE_OPTIONS = [name for name in FORMAT_OPTIONS if _choices(name)]


def _formats_declaring(option: str) -> list[str]:
    return sorted(name for name, renderer in FORMATS.items() if option in renderer.options)


def _run_config(options: dict) -> dict:
    run_config = EXAMPLE_REQUEST.run_config()
    run_config["ops"]["validate_request"]["config"]["format_options"] = options
    return run_config


def test_the_schema_holds_every_option_of_every_format_and_says_which_formats_take_it():
    assert set(FORMAT_OPTIONS) == {name for renderer in FORMATS.values() for name in renderer.options}
    for option in FORMAT_OPTIONS:
        description = FormatOptions.model_fields[option].description
        said = sorted(re.match(r"([a-z, ]+):", description).group(1).split(", "))
        assert said == _formats_declaring(option), f"{option}: the description names the wrong formats"


def test_closed_sets_are_enums_and_their_formats_take_every_value():
    assert {"header_style", "quoting", "line_ending", "encoding", "encoding_errors", "decimals"} <= set(CHOICE_OPTIONS)
    for option in CHOICE_OPTIONS:
        for format_name in _formats_declaring(option):
            renderer = FORMATS[format_name]
            for value in _choices(option):
                assert renderer.check_options({option: value})[option] == value
            with pytest.raises(ExportRequestError):  # a renderer called directly still checks
                renderer.check_options({option: "bold_typo"})


def test_the_launchpad_schema_offers_each_choice_as_an_enum_with_a_description():
    snapshot = export_job.get_job_snapshot().config_schema_snapshot
    [options] = [
        snap for snap in snapshot.all_config_snaps_by_key.values()
        if snap.fields and {field.name for field in snap.fields} == set(FORMAT_OPTIONS)
    ]  # fmt: skip
    fields = {field.name: field for field in options.fields}
    for option in CHOICE_OPTIONS:
        field = fields[option]
        assert not field.is_required and field.description == FormatOptions.model_fields[option].description
        noneable = snapshot.get_config_snap(field.type_key)
        assert noneable.kind == ConfigTypeKind.NONEABLE
        enum = snapshot.get_config_snap(noneable.inner_type_key)
        assert enum.kind == ConfigTypeKind.ENUM
        assert tuple(value.value for value in enum.enum_values) == _choices(option)


@pytest.mark.parametrize(
    ("option", "typo", "allowed"),
    [
        ("header_style", "bold_typo", "Literal['label', 'name']"),
        ("encoding", "utf8", "Literal['utf-8', 'utf-16', 'latin-1', 'cp1252']"),
        ("decimals", "float", "Literal['string', 'number']"),
    ],
)
def test_the_job_schema_refuses_a_typo_in_a_choice_naming_the_choices(option, typo, allowed):
    with pytest.raises(DagsterInvalidConfigError) as refused:
        validate_run_config(export_job, _run_config({option: typo}))

    path = f"root:ops:validate_request:config:format_options:{option}"
    assert f"Value at path {path} not in enum type {allowed} got {typo}" in str(refused.value)


def test_the_job_schema_refuses_an_unknown_option_naming_the_options():
    with pytest.raises(DagsterInvalidConfigError) as refused:
        validate_run_config(export_job, _run_config({"heder_style": "name"}))

    message = str(refused.value)
    assert 'unexpected config entry "heder_style" at path root:ops:validate_request:config:format_options' in message
    assert "header_style?: Literal['label', 'name']?" in message


def test_valid_options_pass_the_schema_and_reach_the_step_as_given():
    given = {"header_style": "name", "encoding": "utf-16", "header": False, "delimiter": ";"}

    processed = validate_run_config(export_job, _run_config(given))

    request = ExportRequest(**processed["ops"]["validate_request"]["config"])
    assert request.format_options == given
    assert validate_run_config(export_job, _run_config({})) and EXAMPLE_REQUEST.format_options == {}


def test_a_request_the_model_accepts_is_one_the_job_schema_accepts():
    """Schedules, sensors and the command line build the run config from the model: it must launch."""
    every_option = {
        name: (_choices(name)[-1] if _choices(name) else {bool: True, int: 7, str: "x"}[_free_type(name)])
        for name in FORMAT_OPTIONS
    }
    request = ExportRequest(user="analyst", dataset="orders", format_options=every_option)

    processed = validate_run_config(export_job, request.run_config())

    assert ExportRequest(**processed["ops"]["validate_request"]["config"]) == request
    assert request.model_dump()["format_options"] == every_option  # what request tokens and dedupe digest


def _free_type(option: str) -> type:
    [kind] = [kind for kind in get_args(FormatOptions.model_fields[option].annotation) if kind is not type(None)]
    return get_args(kind)[0] if get_args(kind) else kind


def test_the_model_refuses_a_bad_value_naming_the_field_and_the_choices():
    with pytest.raises(ValidationError) as refused:
        ExportRequest(user="analyst", dataset="orders", format_options={"header_style": "bold_typo"})

    [problem] = refused.value.errors()
    assert problem["loc"] == ("format_options", "header_style") and "'label' or 'name'" in problem["msg"]


@pytest.mark.parametrize(("option", "value"), [("header", "yes"), ("compression_level", "5"), ("delimiter", 59)])
def test_the_model_refuses_a_value_of_the_wrong_type_as_the_job_schema_does(option, value):
    with pytest.raises(ValidationError) as refused:
        ExportRequest(user="analyst", dataset="orders", format="csv", format_options={option: value})
    assert refused.value.errors()[0]["loc"] == ("format_options", option)
    with pytest.raises(DagsterInvalidConfigError):
        validate_run_config(export_job, _run_config({option: value}))


def test_the_model_refuses_an_unknown_option_naming_the_options_of_the_format():
    with pytest.raises(ExportRequestError) as refused:
        ExportRequest(user="analyst", dataset="orders", format="json", format_options={"colour": "red"})

    assert refused.value.field == "format_options.colour"
    assert str(refused.value) == "format_options.colour: not an option of format 'json' (allowed: decimals)"


def test_the_gate_refuses_a_bad_value_naming_the_field_and_the_choices(dagster_home):
    with pytest.raises(SubmissionRefused) as refused:
        admit(DagsterInstance.get(), _run_config({"quoting": "sometimes"}), {}, VIA_WEBSERVER,
              GateSettings(trust_unsigned=True))  # fmt: skip

    assert "format_options.quoting" in str(refused.value)
    assert "'needed', 'all', 'minimal' or 'none'" in str(refused.value)


@pytest.mark.parametrize(
    ("option", "mentions"),
    [
        ("header_style=bold_typo", ["format_options.header_style", "'label' or 'name'"]),
        ("colour=red", ["format_options.colour: not an option of format 'csv'", "header_style"]),
    ],
)
def test_the_command_line_refuses_a_bad_option_before_any_run(dagster_home, capsys, option, mentions):
    status = main(["export", "--user", "admin", "--dataset", "orders", "--option", option])

    error = capsys.readouterr().err
    assert status == 2 and "Traceback" not in error
    for mention in mentions:
        assert mention in error
    assert not DagsterInstance.get().get_run_records()
