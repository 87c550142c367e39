"""A Sentry ingestion endpoint on loopback that records what the SDK sends: no patched SDK anywhere.

The SDK posts envelopes (https://develop.sentry.dev/sdk/envelopes/) to ``/api/<project>/envelope/``,
gzip-compressed; the server answers 200, keeps each body as received and decompressed, and parses
its items, so a test can read the events and search everything that left the process.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass(frozen=True)
class Envelope:
    path: str
    body: bytes  # decompressed: what the SDK wrote
    items: list[tuple[dict, bytes]]  # (item header, payload)


class SentryReceiver:
    def __init__(self):
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    data = gzip.decompress(data)
                elif encoding == "deflate":
                    data = zlib.decompress(data)
                elif encoding:
                    raise AssertionError(f"unexpected Content-Encoding {encoding}")
                with receiver._lock:
                    receiver.envelopes.append(Envelope(self.path, data, parse_envelope(data)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sentry-receiver", daemon=True)
        self._thread.start()

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self._server.server_port}/1"

    def events(self) -> list[dict]:
        with self._lock:
            return [json.loads(p) for e in self.envelopes for header, p in e.items if header.get("type") == "event"]

    def everything(self) -> bytes:
        """Every byte received, decompressed, envelope headers included."""
        with self._lock:
            return b"\n".join(e.body for e in self.envelopes)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def parse_envelope(data: bytes) -> list[tuple[dict, bytes]]:
    """The items of an envelope: a header line, then per item a header line and a payload."""
    _, _, rest = data.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


@pytest.fixture
def sentry_receiver():
    receiver = SentryReceiver()
    yield receiver
    receiver.close()
