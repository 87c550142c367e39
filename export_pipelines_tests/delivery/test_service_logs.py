"""``export-pipelines serve`` as deployed: its access and error logs name routes, never a link's token."""

from __future__ import annotations

import asyncio
import subprocess
import time

import requests
import websockets

from export_pipelines.delivery.links import mint_status_token
from export_pipelines.service.access_log import redact
from export_pipelines_tests.delivery.conftest import CLI
from export_pipelines_tests.services import free_port, port_open


def test_the_logs_of_serve_carry_routes_and_no_token(world):
    link = world.link(world.small)
    status = mint_status_token(run_id=world.small.run_id, owner=world.small.user).token
    port = free_port()
    server = subprocess.Popen([CLI, "serve", "--port", str(port)], env=world.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        answers = [requests.get(base + path, timeout=30, allow_redirects=False).status_code for path in (
            f"/d/{link.token}", f"/d/{link.token}/file", f"/d/{link.token}/file/", f"/d/{link.token[:-4]}AAAA/file",
            f"/exports/{world.small.run_id}/status?token={status}", f"/nowhere/{status}?token={link.token}",
        )]  # fmt: skip

        async def watch():
            url = f"ws://127.0.0.1:{port}/exports/{world.small.run_id}/events?token={status}&after=0"
            async with websockets.connect(url, open_timeout=30) as socket:
                return [message async for message in socket]

        messages = asyncio.run(asyncio.wait_for(watch(), 60))
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]

    assert answers == [200, 200, 404, 401, 200, 404] and messages
    for token in (link.token, status, link.token[:-4], status.split(".")[1]):
        assert token not in output, output
    assert '"GET /d/{token}/file HTTP/1.1" 200' in output and "/status?token=…" in output, output
    assert "WebSocket /exports/" in output and "events?token=…&after=…" in output, output


def test_redaction_keeps_the_route_and_the_names_of_query_parameters():
    assert redact("/d/aaa.bbb.ccc/file?x=1&token=aaa.bbb.ccc") == "/d/{token}/file?x=…&token=…"
    assert redact("saw eyJhbGciOi.eyJzdWIi.c2ln in a message") == "saw {token} in a message"
    assert redact("/exports/1234/status") == "/exports/1234/status"
