"""/api/v1/subscriptions over real HTTP: a subscription is checked against the catalog and its owner's grants
when it is created or edited (422 naming the field), not at its first tick; sent now through the gate."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance

from export_pipelines.automation.subscription_table import SubscriptionTable

DAILY = {"name": "daily_orders", "request": {"dataset": "orders", "columns": ["order_id", "amount"]},
         "cron": "0 6 * * *", "timezone": "Europe/Berlin", "window": "day"}  # fmt: skip


@pytest.fixture(scope="module")
def table(api_world):
    table = SubscriptionTable(api_world.source)
    with api_world.client("analyst") as api:
        assert api.get("/subscriptions").status_code == 503  # before `subscriptions init`: says to run it
    table.create()
    return table


def fields_of(answer) -> list[str]:
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json", answer.text
    return [error["field"] for error in answer.json()["errors"]]


def test_a_subscription_is_created_listed_edited_and_deleted_by_its_owner_only(api_world, table):
    with api_world.client("analyst") as api, api_world.client("admin") as other:
        created = api.post("/subscriptions", json=DAILY)
        taken = other.post("/subscriptions", json=DAILY)
        edited = api.patch("/subscriptions/daily_orders", json={"cron": "0 7 * * 1-5", "paused": True})
        listed = api.get("/subscriptions").json()["items"]
        theirs = other.get("/subscriptions").json()["items"]
        foreign_edit = other.patch("/subscriptions/daily_orders", json={"paused": False})
        deleted = api.delete("/subscriptions/daily_orders")
        gone = api.delete("/subscriptions/daily_orders")

    assert created.status_code == 201 and "owner" not in created.json()
    assert taken.status_code == 409 and taken.json()["code"] == "name_taken"
    assert edited.status_code == 200 and edited.json()["cron"] == "0 7 * * 1-5"
    assert [(s["name"], s["cron"], s["paused"]) for s in listed] == [("daily_orders", "0 7 * * 1-5", True)]
    assert theirs == [] and foreign_edit.status_code == 404
    assert deleted.status_code == 204 and gone.status_code == 404
    assert table.load() == ([], [])


def test_a_subscription_that_would_fail_at_its_first_tick_is_refused_naming_the_field(api_world, table):
    with api_world.client("analyst") as api, api_world.client("auditor") as ungranted:
        column = api.post("/subscriptions", json={**DAILY, "request": {"dataset": "orders", "columns": ["nope"]}})
        cron = api.post("/subscriptions", json={**DAILY, "cron": "every morning"})
        window = api.post("/subscriptions", json={**DAILY, "window_column": "status"})
        owner = api.post("/subscriptions", json={**DAILY, "owner": "admin"})
        grant = ungranted.post("/subscriptions", json=DAILY)
        api.post("/subscriptions", json={**DAILY, "name": "kept"})
        bad_edit = api.patch("/subscriptions/kept", json={"request": {"dataset": "orders", "format": "docx"}})

    assert fields_of(column) == ["request.columns[0]"] and "allowed" in column.json()["errors"][0]
    assert fields_of(cron) == ["cron"]
    assert fields_of(window) == ["window_column"]
    assert fields_of(owner) == ["owner"]
    assert fields_of(grant) == ["request.dataset"] and "no grant" in grant.json()["errors"][0]["detail"]
    assert fields_of(bad_edit) == ["request.format"]
    stored = [entry.subscription for entry in table.load()[0]]
    assert [(s.name, s.request["columns"]) for s in stored] == [("kept", ["order_id", "amount"])]  # edit not saved
    table.remove("kept")


def test_send_now_submits_the_run_of_a_tick_at_this_moment_through_the_gate(api_world, table):
    with api_world.client("analyst") as api:
        api.post("/subscriptions", json={**DAILY, "name": "sent_now"})
        sent = api.post("/subscriptions/sent_now/run")
        foreign = api_world.client("admin").post("/subscriptions/sent_now/run")

    assert sent.status_code == 202 and sent.json()["status"] == "queued", sent.text
    run = DagsterInstance.get().get_run_by_id(sent.json()["id"])
    assert run.tags["export/subscription"] == "sent_now" and run.tags["export/submitted_via"] == "api"
    filters = run.run_config["ops"]["validate_request"]["config"]["filters"]
    assert [f["op"] for f in filters if f["column"] == "created_at"] == ["ge", "lt"]  # yesterday's window
    assert foreign.status_code == 404
    table.remove("sent_now")


def test_skip_if_empty_is_part_of_the_body_and_a_listed_subscription_says_when_it_runs_next(api_world, table):
    with api_world.client("analyst") as api:
        created = api.post("/subscriptions", json={**DAILY, "name": "quiet_days", "skip_if_empty": True})
        listed = api.get("/subscriptions").json()["items"]
        paused = api.patch("/subscriptions/quiet_days", json={"paused": True, "skip_if_empty": False})
        listed_paused = api.get("/subscriptions").json()["items"]
        api.delete("/subscriptions/quiet_days")

    assert created.status_code == 201 and created.json()["skip_if_empty"] is True
    assert listed[0]["skip_if_empty"] is True and listed[0]["next_run"].endswith(("+01:00", "+02:00"))  # Berlin
    assert listed[0]["next_run"][11:16] == "06:00"
    assert paused.json()["skip_if_empty"] is False and listed_paused[0]["next_run"] is None
