"""New export over real HTTP: the form offers what GET /api/v1/datasets offers, submits through the gate, shows
each refusal next to the field it names without submitting anything, estimates, and makes subscriptions."""

from __future__ import annotations

import html as markup
import re

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from export_pipelines.automation.subscription_table import SubscriptionTable
from export_pipelines.request.model import TAG_USER, request_from_run_config
from export_pipelines_tests.desk.conftest import Browser, csrf

FORM = {"dataset": "orders", "shown_dataset": "orders", "columns": ["amount", "order_id"], "format": "csv",
        "filters[0].column": "status", "filters[0].op": "in", "filters[0].value": "paid, shipped",
        "sort_column": "amount", "sort_direction": "desc", "format_options.csv.delimiter": ";",
        "compression": "none", "timezone": "Europe/Berlin", "recipients": "ops@example.com",
        "action": "submit"}  # fmt: skip
PAID_OR_SHIPPED = [{"column": "status", "op": "in", "value": "paid, shipped"}]


def queued(user: str = "analyst") -> list:
    return DagsterInstance.get().get_runs(RunsFilter(tags={TAG_USER: user}, statuses=[DagsterRunStatus.QUEUED]))


def error_next_to(html: str, field: str) -> str:
    """The message of the error shown for ``field`` (``error-filters-0-value``), which the input points to."""
    error_id = "error-" + field.replace(".", "-").replace("[", "-").replace("]", "")
    found = re.search(rf'<p class="field-error" id="{re.escape(error_id)}" role="alert">([^<]*)</p>', html)
    assert found, f"no error shown for {field}"
    assert f'aria-describedby="{error_id}"' in html
    return markup.unescape(found[1])


@pytest.fixture
def analyst(browser: Browser) -> Browser:
    browser.sign_in("analyst")
    return browser


def test_the_form_offers_the_datasets_columns_operators_and_format_options_of_the_api(analyst, api_world):
    answer = analyst.get("/exports/new")
    with api_world.client("analyst") as api:
        offered = api.get("/datasets").json()

    assert answer.status_code == 200 and "script-src 'self'" in answer.headers["content-security-policy"]
    html = answer.text
    for entry in offered["datasets"]:
        assert f'<option value="{entry["name"]}"' in html
    for column in offered["datasets"][0]["columns"]:
        assert f'id="column-{column["name"]}" name="columns" value="{column["name"]}" checked' in html
    assert 'name="format_options.csv.delimiter"' in html and 'name="filters[0].column"' in html
    csv = next(entry for entry in offered["formats"] if entry["name"] == "csv")
    assert {option["name"]: option["type"] for option in csv["options"]}["bom"] == "boolean"
    assert re.search(r'<select id="option-csv-bom"[^>]*>\s*<option value="">default \(False\)</option>', html)
    assert 'aria-current="page">New export' in html


def test_a_valid_form_submits_exactly_one_queued_export_with_the_chosen_fields(analyst):
    before = {run.run_id for run in queued()}

    answer = analyst.post("/exports/new", FORM, csrf_from="/exports/new")

    assert answer.status_code == 303 and answer.headers["location"] == "/exports?notice=submitted"
    new = [run for run in queued() if run.run_id not in before]
    assert len(new) == 1
    request = request_from_run_config(new[0].run_config)
    assert (request.user, request.dataset, request.format) == ("analyst", "orders", "csv")
    assert request.columns == ["amount", "order_id"] and request.filters == PAID_OR_SHIPPED
    assert request.format_options == {"delimiter": ";"} and request.sort == "amount:desc"
    assert request.timezone == "Europe/Berlin" and request.recipients == ["ops@example.com"]


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"columns": ["order_id", "nope"]}, "columns[1]", "nope"),
        ({"filters[0].column": "quantity", "filters[0].op": "eq", "filters[0].value": "many"}, "filters[0].value",
         "'many' is not valid for integer column"),
        ({"format_options.csv.delimiter": ";;"}, "format_options.delimiter", "one character"),
        ({"filters[0].column": "quantity", "filters[0].op": "contains"}, "filters[0].op", "needs a text column"),
    ],
)  # fmt: skip
def test_a_refused_form_comes_back_as_typed_with_the_error_next_to_its_field_and_submits_nothing(
    analyst, changes, field, said
):
    before = len(queued())

    answer = analyst.post("/exports/new", {**FORM, **changes}, csrf_from="/exports/new")

    assert answer.status_code == 422
    assert said in error_next_to(answer.text, field)
    assert 'value="Europe/Berlin"' in answer.text and 'value="ops@example.com"' in answer.text  # input kept
    assert len(queued()) == before


def test_a_form_without_its_csrf_secret_submits_nothing(analyst):
    before = len(queued())

    answer = analyst.post("/exports/new", FORM)

    assert answer.status_code == 403 and len(queued()) == before


def test_the_estimate_answers_the_page_script_with_rows_and_size_or_errors_by_field(analyst, api_world):
    secret = csrf(analyst.get("/exports/new").text)
    fields = {name: value if isinstance(value, list) else [value] for name, value in FORM.items()}

    estimated = analyst.post("/exports/new/estimate", json=fields, headers={"X-CSRF-Token": secret})
    bad = analyst.post("/exports/new/estimate", json={**fields, "filters[0].value": [""]},
                       headers={"X-CSRF-Token": secret})  # fmt: skip
    forged = analyst.post("/exports/new/estimate", json=fields)
    with api_world.client("analyst") as api:
        same = {"dataset": "orders", "columns": ["amount", "order_id"], "filters": PAID_OR_SHIPPED}
        expected = api.post("/exports/estimate", json=same).json()

    assert estimated.status_code == 200 and estimated.json()["rows"] == expected["rows"] > 0
    assert estimated.json()["text"].startswith(f"about {expected['rows']:,} rows, ~")
    assert bad.status_code == 422 and "needs a non-empty list" in bad.json()["errors"]["filters[0].value"]
    assert forged.status_code == 403


def test_without_javascript_the_buttons_move_columns_add_filters_and_follow_the_dataset(analyst):
    order = ["amount", "order_id", "status"]
    moved = analyst.post(
        "/exports/new", {**FORM, "action": "up:order_id", "column_order": order}, csrf_from="/exports/new"
    )
    added = analyst.post("/exports/new", {**FORM, "action": "add_filter"}, csrf_from="/exports/new")
    switched = analyst.post("/exports/new", {**FORM, "dataset": "customers"}, csrf_from="/exports/new")
    estimated = analyst.post("/exports/new", {**FORM, "action": "estimate"}, csrf_from="/exports/new")

    assert moved.status_code == 200
    assert moved.text.index('value="order_id" checked') < moved.text.index('value="amount" checked')
    assert 'name="filters[1].column"' in added.text and 'name="filters[2].column"' not in added.text
    assert switched.status_code == 200 and 'value="email" checked' in switched.text
    assert 'value="amount"' not in switched.text and 'value="Europe/Berlin"' in switched.text
    assert estimated.status_code == 200 and re.search(r'<p id="estimate"[^>]*>about [\d,]+ rows, ~', estimated.text)


def test_repeat_on_a_schedule_makes_a_subscription_or_says_why_it_cannot(analyst, api_world):
    schedule = {**FORM, "repeat": "on", "schedule_name": "weekly_orders", "schedule_preset": "weekly",
                "schedule_time": "07:30"}  # fmt: skip
    before = len(queued())

    no_table = analyst.post("/exports/new", schedule, csrf_from="/exports/new")
    table = SubscriptionTable(api_world.source)
    table.create()
    bad_name = analyst.post("/exports/new", {**schedule, "schedule_name": "Weekly Orders"}, csrf_from="/exports/new")
    created = analyst.post("/exports/new", schedule, csrf_from="/exports/new")

    assert no_table.status_code == 503 and "subscriptions init" in error_next_to(no_table.text, "repeat")
    assert bad_name.status_code == 422 and error_next_to(bad_name.text, "schedule_name")
    assert created.status_code == 303 and created.headers["location"] == "/subscriptions"
    stored = [entry.subscription for entry in table.load()[0]]
    assert [(s.name, s.owner, s.cron, s.timezone, s.recipients) for s in stored] == [
        ("weekly_orders", "analyst", "30 7 * * 1", "Europe/Berlin", ["ops@example.com"])
    ]
    assert stored[0].request["columns"] == ["amount", "order_id"] and len(queued()) == before
