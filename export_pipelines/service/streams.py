"""The body of a download: decrypted segments gathered into large blocks, and a response that counts what it sent.

A download is recorded when it ends, with the bytes the client actually received (``interrupted`` when it
went away mid-body): the response counts the body bytes it hands to the server.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.concurrency import iterate_in_threadpool
from starlette.responses import StreamingResponse

# Blocks handed to the server: large, so a GiB is a few hundred sends and thread-pool hops, not thousands.
BLOCK_BYTES = 4 << 20


class RecordedStream(StreamingResponse):
    """A StreamingResponse that counts the body bytes it hands to the server and reports them at the end."""

    def __init__(self, blocks: Iterator[bytes], finished, **options):
        super().__init__(iterate_in_threadpool(blocks), **options)
        self._finished = finished

    async def __call__(self, scope, receive, send) -> None:
        sent = 0

        async def counting(message) -> None:
            nonlocal sent
            await send(message)
            sent += len(message.get("body", b""))

        try:
            await super().__call__(scope, receive, counting)
        except OSError:  # the client went away mid-body: nothing left to answer
            pass
        finally:
            await self._finished(sent)


def blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Decrypted segments (1 MiB) gathered into BLOCK_BYTES blocks."""
    pending, size = [], 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= BLOCK_BYTES:
            yield pending[0] if len(pending) == 1 else b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)
