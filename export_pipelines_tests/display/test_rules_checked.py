"""Display rules are checked on every launch path with one answer: the field at fault and what is allowed."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, DagsterInvalidConfigError, validate_run_config

from export_pipelines.automation.admission import VIA_WEBSERVER, GateSettings, SubmissionRefused, admit
from export_pipelines.automation.request_table import RequestRow
from export_pipelines.automation.subscriptions import Subscription
from export_pipelines.cli import main
from export_pipelines.datasets.catalog import load_catalog, parse_catalog
from export_pipelines.errors import CatalogError, ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request
from export_pipelines.run.jobs import EXAMPLE_REQUEST, export_job

CATALOG = load_catalog()
# The request of the README's example (issue's shape), as an xlsx export.
EXAMPLE = {
    "locale": "de-DE",
    "formats": {"amount": {"number": "currency", "currency": "EUR", "decimals": 2},
                "created_at": {"datetime": "dd.MM.yyyy HH:mm"}},
    "highlight": [{"when": "amount > 1000", "bold": True, "color": "#C00000"}],
}  # fmt: skip


def _checked(format_name="xlsx", **fields):
    return check_request(ExportRequest(user="analyst", dataset="orders", format=format_name, **fields), CATALOG)


def test_the_example_is_checked_merged_and_typed():
    display = _checked(**EXAMPLE).display

    assert display.locale == "de_DE"
    assert display.rule("amount").currency == "EUR" and display.rule("created_at").datetime == "dd.MM.yyyy HH:mm"
    [highlight] = display.highlights
    [condition] = highlight.condition.items
    assert (condition.column, condition.op, str(condition.value)) == ("amount", "gt", "1000")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"formats": {"amount": {"decimals": 12}}}, "formats.amount.decimals: 12 is not valid (allowed: 0 to 9)"),
        ({"formats": {"amont": {"decimals": 1}}}, "formats.amont: unknown column 'amont' in dataset 'orders'"),
        ({"columns": ["order_id"], "formats": {"amount": {"decimals": 1}}},
         "formats.amount: column 'amount' is not among the exported columns (allowed: order_id)"),
        ({"formats": {"amount": {"currency": "EURO"}}}, "formats.amount.currency: 'EURO' is not a currency"),
        ({"formats": {"amount": {"number": "currency"}}}, "formats.amount.currency: is required with number: currency"),
        ({"formats": {"status": {"number": "percent"}}},
         "formats.status.number: applies to number columns; this one is string"),
        ({"formats": {"created_at": {"datetime": "dd.QQ.yyyy"}}}, "formats.created_at.datetime: 'QQ' is not a "
         "supported field (allowed: a style (short, medium, long) or a pattern of y M L d E a h H m s S"),
        ({"formats": {"shipped_on": {"datetime": "dd.MM. HH:mm"}}},
         "formats.shipped_on.datetime: a date has no time of day (H, m)"),
        ({"formats": {"amount": {"datetime": "yyyy"}}},
         "formats.amount.datetime: applies to date and timestamp columns; this one is decimal"),
        ({"locale": "xx-YY"}, "locale: 'xx-YY' is not a known locale (allowed: a language and region such as de-DE"),
        ({"highlight": [{"when": "amount >", "bold": True}]},
         "highlight[0].when: syntax error at column 9: unexpected end of text"),
        ({"highlight": [{"when": "amuont > 5", "bold": True}]},
         "highlight[0].when (column 1): unknown column 'amuont'"),
        ({"highlight": [{"when": "amount > lots", "bold": True}]}, "highlight[0].when (column 1): 'lots' is not valid"),
        ({"highlight": [{"when": "amount > 5", "color": "red"}]},
         "highlight[0].color: 'red' is not a colour (allowed: #RRGGBB such as #C00000)"),
        ({"highlight": [{"when": "amount > 5", "background": "#12345"}]}, "highlight[0].background: '#12345' is not"),
        ({"highlight": [{"when": "amount > 5"}]}, "highlight[0]: styles nothing"),
        ({"highlight": [{"when": "amount > 5", "bold": True, "columns": ["nope"]}]},
         "highlight[0].columns[0]: 'nope' is not among the exported columns"),
        ({"columns": ["order_id"], "highlight": [{"when": "amount > 5", "bold": True}]},
         "highlight[0].when (column 1): column 'amount' is not among the exported columns"),
        ({"highlight": [{"when": "status > paid", "bold": True}]},
         "highlight[0].when (column 1): gt on text column 'status'"),
        ({"formatted": True}, "formatted: applies to csv, json, jsonl, not xlsx"),
    ],
)  # fmt: skip
def test_a_mistake_is_refused_naming_the_field_and_what_is_allowed(fields, message):
    with pytest.raises(ExportRequestError) as refused:
        _checked(**fields)

    assert str(refused.value).startswith(message)


def test_the_launchpad_schema_types_the_rules_and_flags_a_typo():
    run_config = EXAMPLE_REQUEST.run_config()
    run_config["ops"]["validate_request"]["config"].update(EXAMPLE)
    processed = validate_run_config(export_job, run_config)
    assert ExportRequest(**processed["ops"]["validate_request"]["config"]) == ExportRequest(
        user="analyst", dataset="orders", **EXAMPLE)  # fmt: skip

    run_config["ops"]["validate_request"]["config"]["formats"] = {"amount": {"number": "money"}}
    with pytest.raises(DagsterInvalidConfigError) as refused:
        validate_run_config(export_job, run_config)
    assert "formats:'amount':value:number not in enum type Literal['decimal', 'currency', 'percent']" in str(
        refused.value).replace("root:ops:validate_request:config:", "")  # fmt: skip


def test_the_gate_refuses_a_bad_rule_naming_the_field(dagster_home):
    run_config = EXAMPLE_REQUEST.run_config()
    run_config["ops"]["validate_request"]["config"]["highlight"] = [{"when": "amount > 5", "color": "crimson"}]

    with pytest.raises(SubmissionRefused) as refused:
        admit(DagsterInstance.get(), run_config, {}, VIA_WEBSERVER, GateSettings(trust_unsigned=True))

    assert "highlight[0].color: 'crimson' is not a colour" in str(refused.value)


def test_the_command_line_refuses_a_bad_rule_in_a_request_file(dagster_home, tmp_path, capsys):
    """A value the schema takes but the check refuses fails the run's first step, before a row is read."""
    request_file = tmp_path / "request.yaml"
    request_file.write_text("formats: {amount: {number: currency, currency: EUR, decimals: -1}}\n")

    status = main(["export", "--user", "admin", "--dataset", "orders", "--request", str(request_file)])

    error = capsys.readouterr().err
    assert status == 1 and "formats.amount.decimals: -1 is not valid (allowed: 0 to 9)" in error
    [record] = DagsterInstance.get().get_run_records()
    assert record.dagster_run.run_config["ops"]["validate_request"]["config"]["formats"]["amount"]["decimals"] == -1


def _catalog(amount_format) -> dict:
    return {"datasets": {"orders": {"table": "orders", "key": "id", "tenant_column": "tenant", "columns": {
        "id": {"type": "integer"}, "tenant": {"type": "string"},
        "amount": {"type": "decimal", "format": amount_format}}}}}  # fmt: skip


def test_the_catalogs_default_applies_and_the_request_overrides_it_field_by_field():
    catalog = parse_catalog(_catalog({"number": "currency", "currency": "EUR", "null": "-"}))
    request = ExportRequest(user="analyst", dataset="orders", formats={"amount": {"currency": "USD", "decimals": 0}})

    rule = check_request(request, catalog).display.rule("amount")

    assert (rule.number, rule.currency, rule.decimals, rule.null) == ("currency", "USD", 0, "-")


def test_a_bad_catalog_default_names_its_place():
    with pytest.raises(CatalogError) as refused:
        parse_catalog(_catalog({"number": "percent", "decimals": "two"}))
    assert "datasets.orders.columns.amount.format.decimals: 'two' is not valid (allowed: 0 to 9)" in str(refused.value)


def test_a_subscription_and_a_request_row_carry_the_rules():
    subscription = Subscription(name="daily", owner="admin", cron="0 6 * * *",
                                request={"dataset": "orders", "format": "pdf", **EXAMPLE})  # fmt: skip
    row = RequestRow(id=1, user_name="admin", request=json.dumps({"dataset": "orders", **EXAMPLE}), status="new")

    for request in (subscription.export_request(), ExportRequest(**row.fields())):
        display = check_request(request, CATALOG).display
        assert display.locale == "de_DE" and display.highlights[0].when == "amount > 1000"
