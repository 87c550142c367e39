"""Staged chunks: Arrow IPC streams written and read through the Storage interface.

Arrow IPC keeps the exact types (decimals, time zones, NULL versus empty string) and reads back
without parsing, so a chunk costs little to stage and nothing is lost between steps. Going
through Storage means workers on other machines can read what this one staged.
"""

from __future__ import annotations

import pyarrow as pa

from export_pipelines.storage import Storage, StoredFile


def write_chunk(storage: Storage, key: str, table: pa.Table) -> StoredFile:
    with storage.open_write(key, checksum=False) as target:  # a chunk lives for one run: nobody checks it
        with pa.ipc.new_stream(pa.PythonFile(target.stream, mode="w"), table.schema) as writer:
            writer.write_table(table)
    return target.result


def read_chunk(storage: Storage, key: str) -> pa.Table:
    with storage.open_read(key) as source:
        return pa.ipc.open_stream(source).read_all()


def read_chunk_schema(storage: Storage, key: str) -> pa.Schema:
    """The chunk's schema, from the stream's header alone: no row is read."""
    with storage.open_read(key) as source:
        return pa.ipc.open_stream(source).schema
