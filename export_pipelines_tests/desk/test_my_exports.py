"""My exports over HTTP, as a browser posts its forms: listing, paging, the status filter, and each action.

No daemon here (``api_world``): what is submitted stays queued, so it can be canceled. Paging is shown on runs
added straight to the instance for admin (queued and canceled ones, which need no events or files).
"""

from __future__ import annotations

import re

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.utils import make_new_run_id

from export_pipelines_tests.desk.conftest import Browser

ROW = re.compile(r'<li class="export" id="export-([0-9a-f-]+)" data-id="[^"]+" data-status="(\w+)"')
ORDERS = {"dataset": "orders", "format": "csv", "columns": ["order_id", "amount"]}
ADDED = 60


def rows(html: str) -> list[tuple[str, str]]:
    """(id, status) of each export the page lists, in its order."""
    return ROW.findall(html)


def submitted(api_world, user: str = "analyst", **body) -> str:
    with api_world.client(user) as api:
        answer = api.post("/exports", json={**ORDERS, **body})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def status_of(api_world, export_id: str) -> str:
    with api_world.client("analyst") as api:
        return api.get(f"/exports/{export_id}").json()["status"]


@pytest.fixture(scope="module")
def admins_runs(api_world) -> list[str]:
    """``ADDED`` exports of admin's, every third canceled, newest last."""
    instance = DagsterInstance.get()
    added = []
    for n in range(ADDED):
        status = DagsterRunStatus.CANCELED if n % 3 == 0 else DagsterRunStatus.NOT_STARTED
        tags = {"export/user": "admin", "export/dataset": "orders", "export/format": "csv"}
        run = DagsterRun(job_name="export_job", run_id=make_new_run_id(), tags=tags, status=status)
        added.append(instance.add_run(run).run_id)
    return added


def test_my_exports_lists_the_users_exports_newest_first_with_what_each_can_do(browser: Browser, api_world):
    queued = submitted(api_world, title="listing")
    browser.sign_in("analyst")

    page = browser.get("/exports").text

    listed = rows(page)
    assert listed[0] == (queued, "queued") and (api_world.finished.run_id, "succeeded") in listed
    assert f'action="/exports/{queued}/cancel"' in page and f'data-events="/exports/{queued}/events?token=' in page
    assert f'action="/exports/{api_world.finished.run_id}/links"' in page
    assert f'action="/exports/{api_world.finished.run_id}/again"' in page
    assert re.search(r'<a class="button download" href="/d/[^"]+">Download</a>', page)


def test_older_exports_are_paged_with_a_cursor_and_keep_the_status_filter(browser: Browser, admins_runs):
    browser.sign_in("admin")

    seen, path = [], "/exports"
    while path:
        page = browser.get(path).text
        seen += [export_id for export_id, _ in rows(page)]
        older = re.search(r'<a id="older" href="([^"]+)"', page)
        path = older[1].replace("&amp;", "&") if older else None
    canceled_page = browser.get("/exports?status=canceled").text
    older_canceled = re.search(r'<a id="older" href="([^"]+)"', canceled_page)

    assert seen == list(reversed(admins_runs))  # every one once, newest first, 25 a page
    assert len(rows(canceled_page)) == 20 and {status for _, status in rows(canceled_page)} == {"canceled"}
    assert older_canceled is None  # 20 canceled: one page
    assert rows(browser.get("/exports?cursor=not-a-run").text)[0][0] == admins_runs[-1]  # a bad cursor: newest


def test_the_status_filter_shows_only_that_status(browser: Browser, api_world):
    submitted(api_world, title="filter")
    browser.sign_in("analyst")

    succeeded = rows(browser.get("/exports?status=succeeded").text)
    queued = rows(browser.get("/exports?status=queued").text)
    unknown = rows(browser.get("/exports?status=everything").text)

    assert succeeded == [(api_world.finished.run_id, "succeeded")]
    assert queued and {status for _, status in queued} == {"queued"}
    assert set(unknown) == set(rows(browser.get("/exports").text))  # an unknown status: no filter


def test_a_queued_export_is_canceled_once(browser: Browser, api_world):
    export_id = submitted(api_world, title="cancel")
    browser.sign_in("analyst")

    canceled = browser.post(f"/exports/{export_id}/cancel", csrf_from="/exports")
    again = browser.post(f"/exports/{export_id}/cancel", csrf_from="/exports")

    assert canceled.status_code == 303 and canceled.headers["location"] == "/exports?notice=canceled"
    assert "The export was canceled." in browser.get("/exports?notice=canceled").text
    assert status_of(api_world, export_id) == "canceled"
    assert again.status_code == 409 and "there is nothing to cancel" in again.text


def test_a_fresh_link_is_shown_with_its_expiry_and_opens_the_download_page(browser: Browser, api_world):
    browser.sign_in("analyst")

    answer = browser.post(f"/exports/{api_world.finished.run_id}/links", csrf_from="/exports")

    assert answer.status_code == 200 and "A new download link" in answer.text
    path = re.search(r'<a class="button" id="new-link" href="(/d/[^"]+)"', answer.text)[1]
    assert 'id="link-expires"' in answer.text
    download_page = browser.get(path)
    assert download_page.status_code == 200 and f'<code id="sha256">{api_world.finished.sha256}</code>' in (
        download_page.text
    )


def test_run_again_submits_one_new_queued_export(browser: Browser, api_world):
    instance = DagsterInstance.get()
    export_id = submitted(api_world, title="again")
    browser.sign_in("analyst")
    browser.post(f"/exports/{export_id}/cancel", csrf_from="/exports")
    before = {run.run_id for run in instance.get_runs(RunsFilter(tags={"export/user": "analyst"}))}

    answer = browser.post(f"/exports/{export_id}/again", csrf_from="/exports")

    after = instance.get_runs(RunsFilter(tags={"export/user": "analyst"}))
    new = [run for run in after if run.run_id not in before]
    assert answer.status_code == 303 and answer.headers["location"] == "/exports?notice=submitted"
    assert len(new) == 1 and new[0].status == DagsterRunStatus.QUEUED
    assert (
        new[0].tags["export/dataset"] == "orders" and new[0].run_config == instance.get_run_by_id(export_id).run_config
    )


def test_another_users_export_is_not_found_by_any_route(browser: Browser, api_world):
    theirs = submitted(api_world, user="admin", title="admin's")
    browser.sign_in("analyst")

    assert theirs not in browser.get("/exports").text
    assert browser.get(f"/exports/{theirs}").status_code == 404
    for action in ("cancel", "links", "again"):
        answer = browser.post(f"/exports/{theirs}/{action}", csrf_from="/exports")
        assert answer.status_code == 404 and f"you have no export {theirs}" in answer.text
    assert status_of_admin(api_world, theirs) == "queued"


def test_an_action_without_the_forms_csrf_secret_is_refused(browser: Browser, api_world):
    export_id = submitted(api_world, title="csrf")
    browser.sign_in("analyst")

    forged = browser.post(f"/exports/{export_id}/cancel", {})
    other_site = browser.post(
        f"/exports/{export_id}/cancel", csrf_from="/exports", headers={"Origin": "https://x.example"}
    )

    assert forged.status_code == 403 and other_site.status_code == 403
    assert status_of(api_world, export_id) == "queued"


def status_of_admin(api_world, export_id: str) -> str:
    with api_world.client("admin") as api:
        return api.get(f"/exports/{export_id}").json()["status"]


@pytest.mark.parametrize("status", [None, "canceled", "queued"])
def test_a_long_history_is_paged_as_dagsters_own_query_pages_it(api_world, admins_runs, monkeypatch, status):
    from export_pipelines.service.api import history
    from export_pipelines.service.api.views import dagster_statuses

    monkeypatch.setattr(history, "WALK_FROM", 10)  # admin's 60 runs are a long history
    instance = DagsterInstance.get()
    filters = RunsFilter(job_name="export_job", tags={"export/user": "admin"},
                         **({"statuses": dagster_statuses(status)} if status else {}))  # fmt: skip
    cursor, pages = None, 0
    while True:
        expected = [r.dagster_run.run_id for r in instance.get_run_records(filters, limit=7, cursor=cursor)]
        walked = [r.dagster_run.run_id for r in history.newest_runs(instance, filters, 7, cursor)]
        assert walked == expected
        if not expected:
            break
        cursor, pages = expected[-1], pages + 1
    assert pages >= 3
