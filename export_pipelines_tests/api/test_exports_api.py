"""/api/v1/exports over real HTTP (httpx to uvicorn): submitted through the gate into the queue, read, listed,
canceled, linked and estimated as the signed-in user; every refusal a problem+json naming what to fix."""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime, timedelta

import httpx
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from export_pipelines.request.model import TAG_USER
from export_pipelines.security.receipts import read_receipt

PROBLEM = "application/problem+json"


def order(title: str, **fields) -> dict:
    """A small request; the title makes each distinct, so the dedupe window does not fold them into one."""
    return {"dataset": "orders", "format": "csv", "columns": ["order_id", "amount"], "title": title, **fields}


def test_a_submission_is_queued_through_the_gate_and_answers_where_to_follow_it(api_world):
    with api_world.client("analyst") as api:
        answer = api.post("/exports", json=order("queued through the gate"))

        assert answer.status_code == 202, answer.text
        export = answer.json()
        assert export["status"] == "queued" and answer.headers["location"] == export["status_url"]
        assert export["status_url"].endswith(f"/api/v1/exports/{export['id']}")
        assert (
            export["events_url"].startswith("ws://")
            and f"/exports/{export['id']}/events?token=" in export["events_url"]
        )
        run = DagsterInstance.get().get_run_by_id(export["id"])
        assert run.status == DagsterRunStatus.QUEUED  # waiting for the daemon, like a launchpad submission
        assert run.tags["export/submitted_via"] == "api" and run.tags[TAG_USER] == "analyst"
        assert read_receipt(run.tags, run.run_id).user == "analyst"  # the gate admitted it and signed its receipt
        status = httpx.get(
            api_world.local(export["events_url"]).replace("ws://", "http://").replace("/events?", "/status?")
        )
        assert status.status_code == 200 and status.json()["state"] == "queued"  # the status token works
        assert api.get(f"/exports/{export['id']}").json()["progress"] == {"percent": 0, "rows": 0, "phase": "queued"}


def test_an_idempotency_key_repeats_its_export_and_refuses_another_body(api_world):
    key = {"Idempotency-Key": "order-2026-12-07-0001"}
    with api_world.client("keyholder") as api, api_world.client("other") as other:
        first = api.post("/exports", json=order("idempotent"), headers=key)
        again = api.post("/exports", json=order("idempotent"), headers=key)
        changed = api.post("/exports", json=order("idempotent, changed"), headers=key)
        elsewhere = other.post("/exports", json=order("idempotent"), headers=key)  # keys are per user

    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert changed.status_code == 409 and changed.headers["content-type"] == PROBLEM
    assert changed.json()["code"] == "idempotency_conflict"
    assert elsewhere.status_code == 202 and elsewhere.json()["id"] != first.json()["id"]
    assert DagsterInstance.get().get_runs_count(RunsFilter(tags={TAG_USER: "keyholder"})) == 1


def test_the_same_export_asked_again_within_the_dedupe_window_answers_the_first(api_world):
    with api_world.client("repeater") as api:
        first = api.post("/exports", json=order("asked twice"))
        second = api.post("/exports", json=order("asked twice"))

    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    canceled = DagsterInstance.get().get_runs(RunsFilter(tags={TAG_USER: "repeater"},
                                                         statuses=[DagsterRunStatus.CANCELED]))  # fmt: skip
    assert [run.tags["export/duplicate_of"] for run in canceled] == [first.json()["id"]]


def test_the_queue_cap_answers_429_with_retry_after_and_holds_under_concurrent_submissions(api_world, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_QUEUED_PER_USER", "2")  # the gate reads it at every submission
    instance = DagsterInstance.get()
    with api_world.client("capped") as api:
        answers = [api.post("/exports", json=order(f"capped {n}")) for n in range(3)]

        assert [a.status_code for a in answers] == [202, 202, 429]
        assert answers[2].headers["retry-after"] == "30" and answers[2].json()["code"] == "queue_full"
        assert "2 exports waiting" in answers[2].json()["detail"]
        assert instance.get_runs_count(RunsFilter(tags={TAG_USER: "capped"})) == 2  # the 429 left no failed run

    def submit(n: int) -> int:
        with api_world.client("crowd") as api:
            return api.post("/exports", json=order(f"crowd {n}")).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(submit, range(8)))
    assert statuses.count(202) == 2 and statuses.count(429) == 6, statuses
    assert instance.get_runs_count(RunsFilter(tags={TAG_USER: "crowd"}, statuses=[DagsterRunStatus.QUEUED])) == 2


def test_bad_fields_are_one_problem_entry_each_named_as_the_other_paths_name_them(api_world):
    with api_world.client("analyst") as api:
        shapes = api.post("/exports", json={"dataset": "orders", "format": "docx", "compression": "rar"})
        value = api.post("/exports", json=order("bad value", filters=[{"column": "amount", "op": "gt", "value": "x"}]))
        user = api.post("/exports", json={**order("as another"), "user": "admin"})
        missing = api.post("/exports", json={"format": "csv"})

    assert shapes.status_code == 422 and shapes.headers["content-type"] == PROBLEM
    assert {e["field"] for e in shapes.json()["errors"]} == {"format", "compression"}
    assert [(e["field"], e["allowed"]) for e in value.json()["errors"]] == [
        ("filters[0].value", "a decimal number such as 12.50")
    ]
    assert user.status_code == 422 and user.json()["errors"][0]["field"] == "user"
    assert "token" in user.json()["errors"][0]["detail"]  # says where the user comes from instead
    assert missing.json()["errors"] == [{"field": "dataset", "detail": "is required"}]
    for answer in (shapes, value, user, missing):
        assert "Traceback" not in answer.text and answer.json()["status"] == 422
    with api_world.client("analyst") as api:
        huge = api.post("/exports", json=order("huge", where="amount > 1 or " * 100_000))
    assert huge.status_code == 413 and huge.headers["content-type"] == PROBLEM


def test_only_a_valid_application_token_signs_in(api_world):
    url = f"{api_world.server.url}/api/v1/exports"
    forged = api_world.app.token("analyst", audience="another-app")

    assert httpx.get(url).status_code == 401
    assert httpx.get(url).headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = api_world.app.token("analyst", lifetime=-60)
    assert httpx.get(url, headers={"Authorization": f"Bearer {expired}"}).json()["code"] == "sign_in"
    assert httpx.get(url, headers={"Authorization": f"Bearer {api_world.app.token('analyst')}"}).status_code == 200


def test_another_users_export_is_404_and_an_admin_acting_for_its_owner_is_recorded(api_world):
    finished = api_world.finished.run_id
    with api_world.client("auditor") as stranger, api_world.client("boss", ["admin"]) as boss:
        assert stranger.get(f"/exports/{finished}").status_code == 404
        assert stranger.post(f"/exports/{finished}/links").status_code == 404
        assert boss.get(f"/exports/{finished}").status_code == 404  # an admin acts for others only when asking to
        assert stranger.get(f"/exports/{finished}", headers={"X-Act-As": "analyst"}).status_code == 403
        acting = {"X-Act-As": "analyst"}
        assert boss.get(f"/exports/{finished}", headers=acting).json()["id"] == finished
        made = boss.post("/exports", json=order("made by an admin"), headers=acting).json()

    run = DagsterInstance.get().get_run_by_id(made["id"])
    assert run.tags[TAG_USER] == "analyst" and run.tags["export/acted_by"] == "boss" and made["acted_by"] == "boss"


def test_the_list_is_the_callers_newest_first_in_pages_filtered_by_status_and_dataset(api_world):
    with api_world.client("lister") as api:
        made = [api.post("/exports", json=order(f"listed {n}")).json()["id"] for n in range(3)]
        made.append(api.post("/exports", json={"dataset": "customers", "title": "listed customers"}).json()["id"])
        api.post(f"/exports/{made[0]}/cancel")
        first = api.get("/exports", params={"limit": 2}).json()
        rest = api.get("/exports", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        queued_orders = api.get("/exports", params={"status": "queued", "dataset": "orders"}).json()
        bad_status = api.get("/exports", params={"status": "done"})
        foreign_cursor = api.get("/exports", params={"cursor": api_world.finished.run_id})

    assert [e["id"] for e in first["items"] + rest["items"]] == made[::-1]
    assert rest["next_cursor"] is None or not api_world.client("lister").get(
        "/exports", params={"cursor": rest["next_cursor"]}).json()["items"]  # fmt: skip
    assert [e["id"] for e in queued_orders["items"]] == made[1:3][::-1]
    assert bad_status.status_code == 422 and bad_status.json()["errors"][0]["field"] == "status"
    assert foreign_cursor.status_code == 422 and foreign_cursor.json()["errors"][0]["field"] == "cursor"


def test_cancel_ends_a_queued_export_and_says_so(api_world):
    with api_world.client("canceler") as api:
        export = api.post("/exports", json=order("to cancel")).json()
        canceled = api.post(f"/exports/{export['id']}/cancel")
        again = api.post(f"/exports/{export['id']}/cancel")

    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert canceled.json()["error"]["what_to_do"].startswith("submit it again")
    assert again.status_code == 409 and again.json()["code"] == "finished"
    assert DagsterInstance.get().get_run_by_id(export["id"]).tags["export/canceled_by"] == "canceler"


def test_a_finished_export_has_a_download_url_and_fresh_links_capped_by_their_ttl(api_world):
    finished = api_world.finished
    with api_world.client("analyst") as api:
        shown = api.get(f"/exports/{finished.run_id}").json()
        link = api.post(f"/exports/{finished.run_id}/links", json={"ttl": "1h"})
        bad_ttl = api.post(f"/exports/{finished.run_id}/links", json={"ttl": "soon"})
        waiting = api.post("/exports", json=order("not done yet")).json()
        not_ready = api.post(f"/exports/{waiting['id']}/links")

    assert shown["status"] == "succeeded" and shown["rows"] == finished.rows and shown["bytes"] == finished.bytes
    assert shown["rows_withheld"] is True and "skipped_rows" not in shown  # whether, never how many
    assert shown["progress"]["percent"] == 100 and shown["error"] is None
    assert link.status_code == 201
    expires = datetime.fromisoformat(link.json()["expires_at"])
    assert datetime.now(UTC) + timedelta(minutes=58) < expires <= datetime.now(UTC) + timedelta(hours=1)
    for url in (shown["download_url"], link.json()["url"]):
        file = httpx.get(api_world.local(url) + "/file")
        assert file.status_code == 200 and len(file.content) == finished.bytes
    assert bad_ttl.status_code == 422 and bad_ttl.json()["errors"][0]["field"] == "ttl"
    assert not_ready.status_code == 409 and not_ready.json()["code"] == "not_ready"


def test_the_estimate_counts_the_callers_rows_and_never_what_was_withheld(api_world):
    with api_world.client("analyst") as api, api_world.client("auditor") as ungranted:
        estimate = api.post("/exports/estimate", json={"dataset": "orders", "columns": ["order_id", "amount"]})
        refused = ungranted.post("/exports/estimate", json={"dataset": "orders"})

    assert estimate.status_code == 200
    assert estimate.json()["rows"] == api_world.finished.rows  # what the finished export of the same request held
    assert set(estimate.json()) == {"rows", "bytes", "seconds", "file_extension"}
    assert 0 < estimate.json()["bytes"] < 4 * api_world.finished.bytes and estimate.json()["seconds"] > 0
    assert refused.status_code == 403 and refused.json()["code"] == "no_grant"


def test_datasets_are_those_the_caller_may_export_with_every_choice_a_request_makes(api_world):
    with api_world.client("analyst") as api, api_world.client("auditor") as ungranted:
        shown = api.get("/datasets").json()
        nothing = ungranted.get("/datasets").json()

    orders = next(d for d in shown["datasets"] if d["name"] == "orders")
    columns = {c["name"]: c for c in orders["columns"]}
    assert "contains" in columns["status"]["operators"] and "contains" not in columns["amount"]["operators"]
    assert "within" in columns["created_at"]["operators"] and "within" not in columns["status"]["operators"]
    csv = next(f for f in shown["formats"] if f["name"] == "csv")
    assert {"name": "quoting", "allowed": ["needed", "all", "minimal", "none"]}.items() <= next(
        o for o in csv["options"] if o["name"] == "quoting").items()  # fmt: skip
    assert "default" in shown["templates"] and nothing["datasets"] == []


def test_the_schema_and_docs_are_served_and_unknown_paths_are_problems(api_world):
    base = f"{api_world.server.url}/api/v1"
    schema = httpx.get(f"{base}/openapi.json").json()
    body = schema["components"]["schemas"]["ExportRequestBody"]

    assert {"/exports", "/exports/{export_id}", "/exports/{export_id}/cancel", "/exports/{export_id}/links",
            "/exports/estimate", "/datasets"} <= set(schema["paths"])  # fmt: skip
    assert "dataset" in body["properties"] and "user" not in body["properties"]
    export = schema["components"]["schemas"]["Export"]["properties"]
    assert {"status", "progress", "rows_withheld", "error", "download_url"} <= set(export)  # typed answers
    assert "skipped_rows" not in export
    assert "swagger" in httpx.get(f"{base}/docs").text.lower()
    missing = httpx.get(f"{base}/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert httpx.get(f"{base}/exports/").status_code == 404  # no redirect built from the Host header
