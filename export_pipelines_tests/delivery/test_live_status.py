"""Live status: progress published by the ops, read back from the event log over a WebSocket and as JSON."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
import requests
import websockets
from websockets.exceptions import InvalidStatus

from export_pipelines.delivery.links import mint_status_token
from export_pipelines.request.model import ExportRequest
from export_pipelines.run.ops.progress import PROGRESS_ASSET, ProgressReporter
from export_pipelines_tests.delivery.conftest import BIG_ROWS

JSON = {"Accept": "application/json"}


class RunningExport:
    """An export of every order in small chunks, run in a thread so tests can watch it work."""

    def __init__(self, chunk_size: int = 250, **fields):
        from dagster import DagsterInstance

        from export_pipelines.run.jobs import export_job
        from export_pipelines_tests.automation.doors import receipt_tags

        self.run_id = str(uuid.uuid4())
        self.instance = DagsterInstance.get()
        request = ExportRequest(user="admin", dataset="orders", format="csv", chunk_size=chunk_size, **fields)
        config = {**request.run_config(), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

        def run():
            self.result = export_job.execute_in_process(run_config=config, instance=self.instance,
                                                        tags=receipt_tags(self.run_id, request), run_id=self.run_id,
                                                        raise_on_error=False)  # fmt: skip

        self.result = None
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while self.instance.get_run_by_id(self.run_id) is None:
            assert time.monotonic() < deadline, "the run was never created"
            time.sleep(0.01)

    def token(self, **options) -> str:
        return mint_status_token(run_id=self.run_id, owner="admin", **options).token

    def join(self):
        self.thread.join(timeout=300)
        assert self.result is not None and self.result.success
        return self


def ws_url(world, run_id: str, token: str, after: str | None = None) -> str:
    url = f"{world.server.url.replace('http://', 'ws://')}/exports/{run_id}/events?token={token}"
    return url + (f"&after={after}" if after is not None else "")


def receive_all(url: str, timeout: float = 300) -> list[dict]:
    """Every message until the server closes the socket (it does after succeeded or failed)."""

    async def main():
        messages = []
        async with websockets.connect(url, open_timeout=30) as socket:
            async for message in socket:
                messages.append(json.loads(message))
        return messages

    return asyncio.run(asyncio.wait_for(main(), timeout))


def refused_status(url: str) -> int:
    async def main():
        async with websockets.connect(url, open_timeout=30):
            return 101

    try:
        return asyncio.run(main())
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.fixture(scope="module")
def watched(world):
    """One real run, watched over the WebSocket from its start to its end: (export, messages)."""
    export = RunningExport()
    messages = receive_all(ws_url(world, export.run_id, export.token()))
    return export.join(), messages


def test_progress_is_published_at_most_once_a_second_and_once_more_at_the_end():
    class Context:
        events = []

        def log_event(self, event):
            self.events.append(event)

    now = [100.0]
    progress = ProgressReporter(Context(), "collect", planned=1_000, clock=lambda: now[0])
    for _ in range(10):  # ten chunks in 0.45 s: no event yet
        now[0] += 0.045
        progress.advance(50)
    now[0] += 0.6
    progress.advance(50)
    progress.advance(50)  # same instant: still one event
    progress.finish()

    published = [event.metadata for event in Context.events]
    assert [event.asset_key for event in Context.events] == [PROGRESS_ASSET] * 2
    assert [(m["rows_done"].value, m["percent"].value) for m in published] == [(550, 55), (600, 60)]
    assert all(m["rows_planned"].value == 1_000 and m["step"].text == "collect" for m in published)


def test_the_last_count_is_published_once_when_the_last_chunk_already_published_it():
    """On a slow machine the last chunk can come a second after the previous event: finish adds nothing then."""

    class Context:
        events = []

        def log_event(self, event):
            self.events.append(event)

    now = [100.0]
    progress = ProgressReporter(Context(), "collect", planned=100, clock=lambda: now[0])
    now[0] += 1.5
    progress.advance(60)
    now[0] += 1.5
    progress.advance(40)  # the last chunk, a second later: published
    progress.finish()

    assert [event.metadata["rows_done"].value for event in Context.events] == [60, 100]


def test_a_running_export_sends_queued_started_progress_rendering_uploaded_succeeded_in_order(world, watched):
    export, messages = watched

    kinds = [m["event"] for m in messages]
    assert kinds[:2] == ["queued", "started"] and kinds[-2:] == ["uploaded", "succeeded"]
    first_render = kinds.index("rendering")
    assert set(kinds[2:first_render]) == {"progress"} and set(kinds[first_render:-2]) == {"rendering"}
    progress = [m for m in messages if m["event"] == "progress"]
    assert len(progress) >= 2, kinds  # a run of a few seconds reports more than its last count
    rows = [m["rows"] for m in progress]
    assert rows == sorted(set(rows)) and rows[-1] == BIG_ROWS and progress[-1]["percent"] == 100
    assert all(m["planned"] == BIG_ROWS and m["step"] == "collect" for m in progress)
    cursors = [int(m["cursor"]) for m in messages]
    assert cursors == sorted(set(cursors))
    overall = [m["overall"] for m in messages]
    assert overall == sorted(overall) and overall[-1] == 100
    done = messages[-1]
    assert "/d/" in done["link"] and done["rows"] == BIG_ROWS and done["download"].endswith("/file")
    download = requests.get(world.server.url + done["download"], timeout=60)
    assert download.status_code == 200 and download.content == world.plaintext(world.big)  # the same request


def test_progress_is_in_the_runs_event_log_as_observations(world, watched):
    from dagster import DagsterEventType

    export, _ = watched
    logged = export.instance.all_logs(export.run_id, of_type=DagsterEventType.ASSET_OBSERVATION)

    observed = [entry.dagster_event.event_specific_data.asset_observation for entry in logged]
    assert {o.asset_key for o in observed} == {PROGRESS_ASSET}
    assert {o.metadata["step"].text for o in observed} == {"collect", "render"}
    assert all("rows" in o.description for o in observed)


def test_a_reconnect_with_after_gets_only_the_events_it_missed(world, watched):
    export, messages = watched
    seen = messages[3]  # a client that saw queued, started and one progress event, then lost its connection

    missed = receive_all(ws_url(world, export.run_id, export.token(), after=seen["cursor"]))

    def same(m):  # the succeeded event carries a link minted as it is read: fresh on every connection
        return {k: v for k, v in m.items() if k not in ("link", "page", "download")}

    assert [same(m) for m in missed] == [same(m) for m in messages[4:]] and missed[-1]["link"]
    assert receive_all(ws_url(world, export.run_id, export.token(), after=messages[-1]["cursor"])) == []


@pytest.mark.parametrize("after", [str(2**63), str(2**64), "9" * 40, "-1", "%C2%B2", "%D9%A1%D9%A2"])
def test_an_after_cursor_out_of_range_or_not_ascii_digits_starts_from_the_beginning(world, watched, after):
    export, messages = watched

    again = receive_all(ws_url(world, export.run_id, export.token(), after=after), timeout=60)

    assert [m["cursor"] for m in again] == [m["cursor"] for m in messages] and again[-1]["event"] == "succeeded"


def test_the_status_json_follows_a_token_or_the_exports_link(world, clock, watched):
    export, messages = watched
    by_status = requests.get(f"{world.server.url}/exports/{export.run_id}/status",
                             params={"token": export.token()}, timeout=30).json()  # fmt: skip
    link = world.link(world.small)
    by_link = requests.get(f"{world.server.url}/exports/{world.small.run_id}/status",
                           params={"token": link.token}, timeout=30).json()  # fmt: skip

    assert by_status["state"] == "succeeded" and by_status["rows"] == BIG_ROWS and by_status["overall"] == 100
    assert by_status["cursor"] == messages[-1]["cursor"] and "/d/" in by_status["link"]
    assert by_link["state"] == "succeeded" and by_link["link"].endswith(link.token)
    assert by_link["download"] == f"/d/{link.token}/file"


def test_a_status_tokens_page_leads_to_the_download_once_the_export_is_done(world, clock, watched):
    export, _ = watched

    page = requests.get(f"{world.server.url}/d/{export.token()}", allow_redirects=False, timeout=30)

    assert page.status_code == 303 and page.headers["location"].startswith("/d/")
    final = requests.get(world.server.url + page.headers["location"], timeout=30)
    assert final.status_code == 200 and 'id="download"' in final.text


def test_tokens_that_are_not_for_this_export_are_refused(world, clock, watched):
    from export_pipelines_tests.delivery.test_download_service import claims_of, signed

    export, _ = watched
    other = world.link(world.small).token
    app_token = signed({**claims_of(world, world.small), "aud": "export-app"})
    expired = mint_status_token(run_id=export.run_id, owner="admin", ttl=timedelta(seconds=1),
                                now=world.clock() - timedelta(hours=1)).token  # fmt: skip

    assert refused_status(f"{world.server.url.replace('http', 'ws')}/exports/{export.run_id}/events") == 401
    assert refused_status(ws_url(world, export.run_id, "not.a.token")) == 401
    assert refused_status(ws_url(world, export.run_id, other)) == 403  # the small export's own link
    assert refused_status(ws_url(world, export.run_id, app_token)) == 403
    assert refused_status(ws_url(world, export.run_id, expired)) == 410
    status = requests.get(f"{world.server.url}/exports/{export.run_id}/status", params={"token": app_token},
                          headers=JSON, timeout=30)  # fmt: skip
    assert status.status_code == 403 and status.json()["error"] == "wrong_audience"
    assert "traceback" not in status.text.lower()


def test_a_failed_export_says_why_in_words_not_a_traceback(world, clock):
    export = RunningExport(columns=["order_id", "no_such_column"])
    export.thread.join(timeout=120)

    messages = receive_all(ws_url(world, export.run_id, export.token()))
    status = requests.get(f"{world.server.url}/exports/{export.run_id}/status",
                          params={"token": export.token()}, timeout=30).json()  # fmt: skip
    page = requests.get(f"{world.server.url}/d/{export.token()}", timeout=30)

    assert [m["event"] for m in messages][-1] == "failed" and messages[-1]["reason"] == status["reason"]
    assert status["state"] == "failed" and status["reason"].startswith("The request was refused: ")
    assert "no_such_column" in status["reason"] and "Traceback" not in status["reason"]
    assert 'File "' not in status["reason"] and "\n" not in status["reason"]
    assert page.status_code == 200 and "The export failed" in page.text and "no_such_column" in page.text
