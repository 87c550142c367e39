"""The new request forms through the launch paths: a real export run (CSV compared with the source, the
absolute range of a relative date in the run's metadata and the audit), the command line's options,
a subscription's tick, and a request row."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from export_pipelines.automation.request_table import RequestRow
from export_pipelines.automation.subscription_schedules import run_request_for_tick
from export_pipelines.automation.subscriptions import Subscription
from export_pipelines.cli import _parser, build_request
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import ExportRequest, request_from_run_config
from export_pipelines.request.validation import check_request
from export_pipelines.source.query import ExportQuery
from export_pipelines_tests.exported import run_decrypted
from export_pipelines_tests.query.reference import expected_keys

CATALOG = load_catalog()
FIELDS = {
    "where": "status in (paid, refunded, shipped) and (amount > 100 or customer_name startswith \"A\") "
             "and created_at within last 12 months",
    "filters": {"any": [
        {"column": "note", "op": "is_null"},
        {"not": {"column": "note", "op": "contains", "value": "%"}},
    ]},
    "search": "a",
    "sort": ["status", "amount:desc"],
    "timezone": "Europe/Berlin",
    "relative_to": "2025-06-15T08:00:00+02:00",
}  # fmt: skip


@pytest.fixture
def export_env(source, dagster_home, tmp_path, monkeypatch):
    url, rows = source
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXPORT_STORAGE_URL", raising=False)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    return rows


def test_an_export_run_with_every_new_form(export_env, tmp_path):
    rows = export_env
    request = ExportRequest(user="admin", dataset="orders", columns=["order_id"], chunk_size=16, **FIELDS)
    checked = check_request(request, CATALOG)
    expected = expected_keys(rows, ExportQuery(checked.dataset, (), checked.conditions, None, checked.sort))

    record, location = run_decrypted(request, DagsterInstance.get(), tmp_path)

    assert record.status == "SUCCESS", record.error
    with open(location, newline="", encoding="utf-8") as handle:
        keys = [int(line[0]) for line in list(csv.reader(handle))[1:]]
    assert keys == expected and len(expected) > 16, "several chunks"
    stated = (
        "created_at within last 12 months in Europe/Berlin: "
        "from 2024-06-15T00:00:00+02:00 to before 2025-06-15T00:00:00+02:00"
    )
    assert stated in record.filters and "search 'a' in customer_name, note" in record.filters
    assert stated in audit_record_for_run(DagsterInstance.get(), record.run_id).filters
    metadata = _validate_metadata(record.run_id)
    assert metadata["relative_dates"] == stated
    assert metadata["relative_dates_resolved_at"] == "2025-06-15T08:00:00+02:00"


def _validate_metadata(run_id: str) -> dict:
    from dagster import DagsterEventType

    instance = DagsterInstance.get()
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_OUTPUT):
        event = entry.dagster_event
        if event.step_key == "validate_request":
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError("no output of validate_request")


def test_the_command_line_options():
    args = _parser().parse_args([
        "export", "--user", "admin", "--dataset", "orders", "--where", "amount > 5 or note is null",
        "--search", "GmbH", "--sort", "status,amount:desc", "--filter", "quantity ge 2",
    ])  # fmt: skip

    request = build_request(args)

    assert (request.where, request.search, request.sort_keys()) == (
        "amount > 5 or note is null", "GmbH", (("status", False), ("amount", True))
    )
    assert len(check_request(request, CATALOG).conditions) == 3  # the filter, the where group, the search


def test_a_subscription_resolves_relative_dates_at_its_tick():
    subscription = Subscription(
        name="daily", owner="admin", cron="0 6 * * *", timezone="America/New_York", window="day",
        request={"dataset": "orders", "where": "shipped_on within yesterday",
                 "filters": {"any": [{"column": "status", "op": "eq", "value": "paid"}]}},
    )  # fmt: skip
    tick = datetime(2024, 11, 4, 11, 0, tzinfo=UTC)  # 06:00 in New York, the day after the autumn change

    request = request_from_run_config(run_request_for_tick(subscription, tick, None).run_config)
    checked = check_request(request, CATALOG, now=datetime(2030, 1, 1, tzinfo=UTC))  # a late start changes nothing

    assert request.relative_to == tick.isoformat()
    described = [node.describe() for node in checked.conditions]
    assert "shipped_on within yesterday in America/New_York: from 2024-11-03 to before 2024-11-04" in described
    assert "status eq paid" in described, "the saved tree is kept beside the window's conditions"
    assert any(text.startswith("created_at ge 2024-11-03T04:00:00") for text in described), described


def test_a_request_row_may_hold_every_new_form():
    row = RequestRow(id=1, user_name="admin", request=json.dumps({"dataset": "orders", **FIELDS}), status="new")

    checked = check_request(ExportRequest(**row.fields()), CATALOG)

    # The filters' any group, the where's three conditions (its top-level and is opened), the search.
    assert checked.sort == (("status", False), ("amount", True)) and len(checked.conditions) == 5


def test_the_readme_example_is_a_valid_request():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("A complete request using all of them:", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]

    checked = check_request(ExportRequest(**yaml.safe_load(block)), CATALOG)

    described = "; ".join(node.describe() for node in checked.conditions)
    assert "created_at within last 30 days in Europe/Berlin: from " in described
    assert "search 'gmbh'" in described and checked.sort == (("status", False), ("amount", True))
