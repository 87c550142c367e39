"""An HTTP proxy in front of the moto S3 server that answers chosen requests with S3's own errors.

Real S3 answers a busy partition with ``503 SlowDown`` and a bad moment with ``500 InternalError``;
moto never does. This proxy forwards every request to moto unchanged (botocore signs, streams and
retries as against AWS) except the first ``times`` requests a rule matches, which get the error.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
_REASONS = {500: ("InternalError", "We encountered an internal error. Please try again."),
            503: ("SlowDown", "Please reduce your request rate.")}  # fmt: skip


@dataclass(frozen=True)
class S3Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]

    @property
    def is_upload_part(self) -> bool:
        return self.method == "PUT" and "partNumber=" in self.query

    @property
    def is_copy(self) -> bool:
        return self.method == "PUT" and "x-amz-copy-source" in self.headers


@dataclass
class Rule:
    matches: Callable[[S3Request], bool]
    times: int
    status: int
    failed: int = 0


class FailingS3Proxy:
    """``fail(matches, times, status)`` arms a rule; ``failed`` lists the requests that got an error."""

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.rules: list[Rule] = []
        self.failed: list[S3Request] = []
        self.seen: list[S3Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FailingS3Proxy:
        threading.Thread(target=self._server.serve_forever, name="s3-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, matches: Callable[[S3Request], bool], times: int = 1, status: int = 503) -> Rule:
        rule = Rule(matches, times, status)
        with self._lock:
            self.rules.append(rule)
        return rule

    def _verdict(self, request: S3Request) -> int | None:
        with self._lock:
            self.seen.append(request)
            for rule in self.rules:
                if rule.failed < rule.times and rule.matches(request):
                    rule.failed += 1
                    self.failed.append(request)
                    return rule.status
            return None

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self):
                body = self._body()  # read all of it first: the client must be able to read our answer
                path, _, query = self.path.partition("?")
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = S3Request(self.command, path, query, headers)
                status = proxy._verdict(request)
                if status is not None:
                    return self._error(status)
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                try:
                    forwarded = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    forwarded["Content-Length"] = str(len(body))
                    connection.request(self.command, self.path, body=body, headers=forwarded)
                    response = connection.getresponse()
                    payload = response.read()
                finally:
                    connection.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _error(self, status: int):
                code, message = _REASONS[status]
                payload = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}"
                payload = (payload + "</Message><RequestId>fault-injection</RequestId></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler
