"""The Subscriptions pages over real HTTP: each action does what the API's does (the same functions), errors
show next to the field they name, another user's subscription is not found, and every form needs its CSRF secret."""

from __future__ import annotations

import html

import pytest
from dagster import DagsterInstance, RunsFilter

from export_pipelines.automation.subscription_table import SubscriptionTable
from export_pipelines_tests.desk.conftest import Browser

DAILY = {"name": "daily_orders", "dataset": "orders", "columns": "order_id, amount", "format": "csv",
         "where": "amount > 0", "preset": "daily", "time": "06:00", "weekday": "1", "cron": "",
         "timezone": "Europe/Berlin", "recipients": "ana@example.com", "window": "day",
         "skip_if_empty": "on"}  # fmt: skip


@pytest.fixture(scope="module")
def table(api_world):
    table = SubscriptionTable(api_world.source)
    client = Browser(api_world.server.url)
    client.sign_in("analyst")
    before = client.get("/subscriptions")
    client.http.close()
    assert before.status_code == 503 and "export-pipelines subscriptions init" in before.text  # what to run
    table.create()
    return table


@pytest.fixture
def analyst(browser, table) -> Browser:
    browser.sign_in("analyst")
    yield browser
    for entry in table.load()[0]:
        table.remove(entry.subscription.name)


def stored(table: SubscriptionTable) -> dict:
    return {entry.subscription.name: entry.subscription for entry in table.load()[0]}


def field_error(page: str, name: str) -> str:
    """The text of the error shown next to the field ``name`` (its id is error-<name>)."""
    marker = f'id="error-{name}"'
    assert marker in page, f"no error next to {name}"
    return html.unescape(page.split(marker, 1)[1].split(">", 1)[1].split("</p>", 1)[0])


def test_a_subscription_is_created_from_the_form_and_listed_with_its_schedule(analyst, table):
    created = analyst.post("/subscriptions/new", DAILY, csrf_from="/subscriptions/new")
    listing = analyst.get("/subscriptions?notice=created")

    assert created.status_code == 303 and created.headers["location"] == "/subscriptions?notice=created"
    subscription = stored(table)["daily_orders"]
    assert (subscription.owner, subscription.cron, subscription.timezone, subscription.window) == (
        "analyst", "0 6 * * *", "Europe/Berlin", "day")  # fmt: skip
    assert subscription.request == {"dataset": "orders", "format": "csv", "columns": ["order_id", "amount"],
                                    "where": "amount > 0"}  # fmt: skip
    assert subscription.recipients == ["ana@example.com"] and subscription.skip_if_empty is True
    text = listing.text
    assert 'id="subscription-daily_orders"' in text and 'data-state="active"' in text
    assert "Every day at 06:00 <code>0 6 * * *</code>" in text and "Europe/Berlin" in text
    assert "ana@example.com" in text and 'data-field="next-run"><time datetime="' in text


def test_edit_pause_resume_and_delete_change_the_subscription(analyst, table):
    analyst.post("/subscriptions/new", DAILY, csrf_from="/subscriptions/new")
    form = analyst.get("/subscriptions/daily_orders/edit")
    weekly = {**DAILY, "preset": "weekly", "weekday": "1", "time": "07:30", "columns": "order_id", "where": ""}
    edited = analyst.post("/subscriptions/daily_orders/edit", weekly, csrf_from="/subscriptions/daily_orders/edit")
    after_edit = stored(table)["daily_orders"]
    paused = analyst.post("/subscriptions/daily_orders/pause", csrf_from="/subscriptions")
    after_pause = stored(table)["daily_orders"].paused
    listed_paused = analyst.get("/subscriptions").text
    analyst.post("/subscriptions/daily_orders/resume", csrf_from="/subscriptions")
    after_resume = stored(table)["daily_orders"].paused
    deleted = analyst.post("/subscriptions/daily_orders/delete", csrf_from="/subscriptions")

    assert 'value="order_id, amount"' in form.text and 'value="daily" checked' in form.text
    assert edited.status_code == 303
    assert after_edit.cron == "30 7 * * 1" and after_edit.request == {"dataset": "orders", "format": "csv",
                                                                      "columns": ["order_id"]}  # fmt: skip
    assert paused.status_code == 303 and after_pause is True and after_resume is False
    assert 'data-state="paused"' in listed_paused and "Every Monday at 07:30" in listed_paused
    assert deleted.status_code == 303 and stored(table) == {}


def test_send_now_queues_one_export_tagged_with_the_subscription(analyst, table):
    analyst.post("/subscriptions/new", DAILY, csrf_from="/subscriptions/new")
    sent = analyst.post("/subscriptions/daily_orders/run", csrf_from="/subscriptions")
    runs = DagsterInstance.get().get_runs(RunsFilter(tags={"export/subscription": "daily_orders"}))
    exports = analyst.get("/exports").text

    assert sent.status_code == 303 and sent.headers["location"] == "/exports?notice=submitted"
    assert len(runs) == 1 and runs[0].tags["export/user"] == "analyst"
    assert runs[0].tags["export/skip_if_empty"] == "true" and runs[0].tags["export/submitted_via"] == "api"
    assert f'id="export-{runs[0].run_id}"' in exports and 'data-status="queued"' in exports


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [({"columns": "order_id, nope"}, "request-columns", "request.columns[1]"),
     ({"preset": "custom", "cron": "every morning"}, "cron", "not a cron string"),
     ({"timezone": "Mars/Olympus"}, "timezone", "not a known time zone"),
     ({"time": "25:00"}, "schedule_time", "not a time of day"),
     ({"name": "Daily Orders"}, "name", "should match pattern"),
     ({"recipients": "not-an-address"}, "recipients", "recipients[0]: ")],
    ids=["column", "cron", "timezone", "time", "name", "recipient"],
)  # fmt: skip
def test_a_bad_field_is_shown_next_to_it_and_nothing_is_saved(analyst, table, change, field, says):
    answer = analyst.post("/subscriptions/new", {**DAILY, **change}, csrf_from="/subscriptions/new")

    assert answer.status_code == 422
    assert says in field_error(answer.text, field)
    assert 'aria-invalid="true"' in answer.text and html.escape(DAILY["where"]) in answer.text  # the form kept
    assert stored(table) == {}


def test_another_users_subscription_is_not_found(analyst, table, api_world):
    analyst.post("/subscriptions/new", DAILY, csrf_from="/subscriptions/new")
    other = Browser(api_world.server.url)
    other.sign_in("admin")
    try:
        edit = other.get("/subscriptions/daily_orders/edit")
        pause = other.post("/subscriptions/daily_orders/pause", csrf_from="/subscriptions")
        send = other.post("/subscriptions/daily_orders/run", csrf_from="/subscriptions")
        delete = other.post("/subscriptions/daily_orders/delete", csrf_from="/subscriptions")
        theirs = other.get("/subscriptions").text
    finally:
        other.http.close()

    assert [edit.status_code, pause.status_code, send.status_code, delete.status_code] == [404, 404, 404, 404]
    assert "daily_orders" not in theirs
    assert stored(table)["daily_orders"].paused is False


def test_every_form_needs_the_csrf_secret(analyst, table):
    refused_create = analyst.post("/subscriptions/new", DAILY)
    analyst.post("/subscriptions/new", DAILY, csrf_from="/subscriptions/new")
    refused_delete = analyst.post("/subscriptions/daily_orders/delete", {"csrf_token": "forged"})
    refused_pause = analyst.post(
        "/subscriptions/daily_orders/pause", csrf_from="/subscriptions", headers={"Origin": "https://elsewhere.example"}
    )

    assert [refused_create.status_code, refused_delete.status_code, refused_pause.status_code] == [403, 403, 403]
    assert list(stored(table)) == ["daily_orders"] and stored(table)["daily_orders"].paused is False
