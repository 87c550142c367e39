"""Reading exports back in tests: files are stored encrypted, so tests read a decrypted copy.

The copy is made the way a user gets one (``export-pipelines download``): through the storage
resource of the environment the export ran in, which authenticates every segment on the way.
"""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from export_pipelines.automation.launch import run_export
from export_pipelines.request.model import ExportRequest
from export_pipelines.storage.configured import save_decrypted


def decrypted_copy(file_key: str, folder: Path) -> str:
    """Decrypt the stored export ``file_key`` into ``folder``: the test's own (``tmp_path``), so that no
    plaintext copy outlives the test."""
    target = Path(folder) / "decrypted" / file_key
    target.parent.mkdir(parents=True, exist_ok=True)
    return str(save_decrypted(file_key, target))


def run_decrypted(request: ExportRequest, instance: DagsterInstance | None, folder: Path, **options) -> tuple:
    """``run_export``, with the plaintext file's path (a decrypted copy in ``folder``) in place of the stored
    location."""
    record, location = run_export(request, instance or DagsterInstance.get(), **options)
    return record, decrypted_copy(record.file_key, folder) if location else None
