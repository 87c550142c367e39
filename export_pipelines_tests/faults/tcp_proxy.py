"""A loopback TCP proxy the test controls: pass bytes through, reset new connections, or cut them mid-stream.

Put it between a client and a real server (PostgreSQL, SMTP) and the client sees exactly what a
flaky network or a restarting server would give it: a connection reset at connect time, or a
connection that dies after so many bytes. Everything else is the real server's doing.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

_BLOCK = 64 * 1024


@dataclass
class TcpProxy:
    """Listens on 127.0.0.1:<port> and forwards each connection to ``target`` (host, port).

    - ``reset_next(n)``: the next ``n`` connections are accepted and reset at once (RST), the
      way a server that is not ready refuses a client; ``reset`` counts them.
    - ``cut_after(n, direction)``: once ``n`` more bytes have gone ``"down"`` (server to client)
      or ``"up"`` (client to server), every open connection is reset; then the proxy passes again,
      or, with ``for_good``, resets every connection from then on (a server that is gone).
    """

    target: tuple[str, int]
    port: int = 0
    reset: int = 0
    cuts: int = 0
    # What the client had sent on the connection whose traffic triggered the cut (its first 64 KiB).
    sent_before_cut: bytes = b""
    _to_reset: int = 0
    _cut: dict | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: set = field(default_factory=set)
    _server: socket.socket | None = None

    def start(self) -> TcpProxy:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._drop_all()

    def reset_next(self, count: int) -> None:
        with self._lock:
            self._to_reset = count

    def cut_after(self, count: int, direction: str = "down", for_good: bool = False) -> None:
        if direction not in ("up", "down"):
            raise ValueError("direction is 'up' (client to server) or 'down' (server to client)")
        with self._lock:
            self._cut = {"left": count, "direction": direction, "for_good": for_good}

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # stopped
                return
            with self._lock:
                resetting = self._to_reset > 0
                if resetting:
                    self._to_reset -= 1
                    self.reset += 1
            if resetting:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open.update((client, server))
            sent = bytearray()  # what this client sends upwards, kept to say what was in flight at a cut
            for source, sink, direction in ((client, server, "up"), (server, client, "down")):
                threading.Thread(target=self._pump, args=(source, sink, direction, sent), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str, sent: bytearray) -> None:
        try:
            while block := source.recv(_BLOCK):
                if direction == "up" and len(sent) < _BLOCK:
                    sent += block[: _BLOCK - len(sent)]
                block, cut = self._allowance(block, direction, sent)
                if block:
                    sink.sendall(block)
                if cut:
                    self._drop_all()
                    return
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            _reset(sink)
            _reset(source)

    def _allowance(self, block: bytes, direction: str, sent: bytearray) -> tuple[bytes, bool]:
        """The part of ``block`` that may pass, and whether the connections are to be cut after it.

        The bytes up to the cut pass: a server streaming a large result (one COPY) fills whole 64 KiB
        reads, and dropping the read that crosses the mark would cut far earlier than asked.
        """
        with self._lock:
            cut = self._cut
            if cut is None or cut["direction"] != direction:
                return block, False
            if len(block) < cut["left"]:
                cut["left"] -= len(block)
                return block, False
            block = block[: cut["left"]]
            self._cut = None
            self.cuts += 1
            self.sent_before_cut = bytes(sent)
            if cut["for_good"]:
                self._to_reset = 1 << 30
            return block, True

    def _drop_all(self) -> None:
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            _reset(connection)


def _reset(connection: socket.socket) -> None:
    """Close with an RST rather than a FIN: the peer sees 'connection reset', as after a crash."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Wakes a pump thread blocked in recv on it: until that returns, close() alone sends nothing.
        connection.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    connection.close()
