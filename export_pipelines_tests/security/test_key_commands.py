"""``export-pipelines keys`` as an operator runs it: a real process, real exports, a real keyset file.

Every test has its own data folder, Dagster home and keyset; the seeded demo database is shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from export_pipelines.security.keyset import Keyset, KeysetError
from export_pipelines.security.keyset_store import KEYSET_ENV, load_keyset, save_keyset
from export_pipelines.security.kms import KMS_ENDPOINT_ENV, KMS_KEY_ENV, is_wrapped
from export_pipelines.storage import storage_from_url
from export_pipelines.storage.base import ListedFile
from export_pipelines.storage.encrypted import EncryptedStorage
from export_pipelines.storage.key_usage import files_by_key

CLI = str(Path(sys.executable).with_name("export-pipelines"))


def cli(env, *args):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory):
    """50 seeded orders, shared by the module's tests (nothing here writes to the source)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('keys-source') / 'demo.sqlite'}"
    seeded = cli(os.environ, "seed-demo", "--rows", "50", "--db", url)
    assert seeded.returncode == 0, seeded.stderr
    return url


@pytest.fixture
def workspace(demo_database, tmp_path):
    """The environment of a deployment of its own: data folder, Dagster home and keyset file under tmp_path."""
    env = {
        **os.environ,
        "EXPORT_DATA_DIR": str(tmp_path / "var"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "EXPORT_SOURCE_DB_URL": demo_database,
        KEYSET_ENV: str(tmp_path / "keys" / "keyset.json"),
    }
    for name in ("EXPORT_STORAGE_URL", "SMTP_HOST", KMS_KEY_ENV, KMS_ENDPOINT_ENV):
        env.pop(name, None)
    (tmp_path / "home").mkdir()
    return env


def export(env) -> dict:
    done = cli(env, "export", "--user", "analyst", "--dataset", "orders", "--format", "csv", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def listed(env) -> dict[str, int]:
    """``keys list`` as {key id (with ' (primary)'): stored files}."""
    done = cli(env, "keys", "list")
    assert done.returncode == 0, done.stderr
    return {line.split(": ")[0]: int(line.split(": ")[1].split()[0]) for line in done.stdout.splitlines()}


def generated_key(env) -> int:
    done = cli(env, "keys", "generate")
    assert done.returncode == 0, done.stderr
    return load_keyset(env[KEYSET_ENV]).primary_key_id


def rotated_key(env) -> int:
    done = cli(env, "keys", "rotate")
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[1])


def test_generate_writes_a_private_keyset_and_refuses_to_overwrite(workspace):
    done = cli(workspace, "keys", "generate")

    path = Path(workspace[KEYSET_ENV])
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    keyset = load_keyset(path)
    assert str(keyset.primary_key_id) in done.stdout and str(path) in done.stdout
    before = path.read_bytes()

    again = cli(workspace, "keys", "generate")

    assert again.returncode == 2 and "exists already" in again.stderr and "keys rotate" in again.stderr
    assert path.read_bytes() == before and "Traceback" not in again.stderr


def test_rotation_keeps_older_exports_downloadable_and_list_counts_files_per_key(workspace, tmp_path):
    first = generated_key(workspace)
    before = export(workspace)
    assert before["key_id"] == first
    assert listed(workspace) == {f"{first} (primary)": 1}

    second = rotated_key(workspace)
    after = export(workspace)

    assert second != first and load_keyset(workspace[KEYSET_ENV]).primary_key_id == second
    assert after["key_id"] == second
    assert listed(workspace) == {f"{second} (primary)": 1, str(first): 1}
    fetched = cli(workspace, "download", before["run_id"], "--out", str(tmp_path / "before.csv"))
    assert fetched.returncode == 0, fetched.stderr
    assert before["sha256"] in fetched.stdout
    content = (tmp_path / "before.csv").read_bytes()
    assert len(content) == before["bytes"] and hashlib.sha256(content).hexdigest() == before["sha256"]


def test_remove_is_refused_while_an_export_needs_the_key_and_allowed_once_it_is_deleted(workspace):
    old = generated_key(workspace)
    stored = export(workspace)
    new = rotated_key(workspace)

    refused = cli(workspace, "keys", "remove", str(old))

    assert refused.returncode == 2
    assert f"key {old} is still needed" in refused.stderr and stored["file_key"] in refused.stderr
    assert "delete those exports" in refused.stderr
    assert {k.key_id for k in load_keyset(workspace[KEYSET_ENV]).entries} == {old, new}

    shutil.rmtree(Path(stored["file"]).parent)  # the export's folder: files/<run_id>/
    removed = cli(workspace, "keys", "remove", str(old))

    assert removed.returncode == 0, removed.stderr
    assert [k.key_id for k in load_keyset(workspace[KEYSET_ENV]).entries] == [new]
    assert listed(workspace) == {f"{new} (primary)": 0}


def test_remove_is_refused_while_a_run_has_staged_files(workspace):
    old = generated_key(workspace)
    rotated_key(workspace)
    storage = EncryptedStorage(
        storage_from_url(str(Path(workspace["EXPORT_DATA_DIR"]) / "exports")), load_keyset(workspace[KEYSET_ENV])
    )
    with storage.open_write("_staging/run-in-flight/data/chunk-00000", checksum=False) as target:
        target.write(b"rows of a run that has not finished")

    refused = cli(workspace, "keys", "remove", str(old))

    assert refused.returncode == 2
    assert "run-in-flight" in refused.stderr and "staged files of 1 run(s)" in refused.stderr
    assert old in {k.key_id for k in load_keyset(workspace[KEYSET_ENV]).entries}


def test_remove_of_the_primary_or_an_unknown_key_is_refused_clearly(workspace):
    primary = generated_key(workspace)

    as_primary = cli(workspace, "keys", "remove", str(primary))
    unknown = cli(workspace, "keys", "remove", "12345")

    assert as_primary.returncode == 2
    assert f"key {primary} is the primary key" in as_primary.stderr and "keys rotate" in as_primary.stderr
    assert unknown.returncode == 2 and "no enabled key 12345" in unknown.stderr and "keys list" in unknown.stderr
    assert [k.key_id for k in load_keyset(workspace[KEYSET_ENV]).entries] == [primary]


def test_kms_wrapped_keyset_through_the_commands(kms, workspace, tmp_path):
    # kms first: the workspace's environment then carries its dummy AWS credentials and nothing of the machine's
    arn = kms.create_key()
    env = {**workspace, KMS_ENDPOINT_ENV: kms.endpoint_url}
    path = Path(env[KEYSET_ENV])

    generated = cli(env, "keys", "generate", "--kms-key", arn)

    assert generated.returncode == 0, generated.stderr
    assert is_wrapped(path.read_text()) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"{KMS_KEY_ENV}={arn}" in generated.stdout
    without_variable = cli(env, "keys", "list")
    assert without_variable.returncode == 2 and f"set {KMS_KEY_ENV}" in without_variable.stderr

    env[KMS_KEY_ENV] = arn
    first = load_keyset(path, arn).primary_key_id
    before = export(env)
    second = rotated_key(env)

    assert is_wrapped(path.read_text()), "rotation re-wraps the keyset with the same KMS key"
    assert listed(env) == {f"{second} (primary)": 0, str(first): 1}
    fetched = cli(env, "download", before["run_id"], "--out", str(tmp_path / "before.csv"))
    assert fetched.returncode == 0, fetched.stderr
    assert hashlib.sha256((tmp_path / "before.csv").read_bytes()).hexdigest() == before["sha256"]
    shutil.rmtree(Path(before["file"]).parent)
    assert cli(env, "keys", "remove", str(first)).returncode == 0
    assert is_wrapped(path.read_text()) and [k.key_id for k in load_keyset(path, arn).entries] == [second]


def test_generate_never_replaces_a_keyset_written_since_its_check(tmp_path):
    path = tmp_path / "keyset.json"
    save_keyset(Keyset.generate(), path)
    before = path.read_bytes()

    with pytest.raises(KeysetError, match="exists already"):
        save_keyset(Keyset.generate(), path, new=True)

    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keyset.json"]


def test_files_deleted_while_being_counted_are_skipped(tmp_path):
    keyset = Keyset.generate()
    storage = EncryptedStorage(storage_from_url(str(tmp_path)), keyset)
    with storage.open_write("files/run-1/kept.csv") as target:
        target.write(b"kept")
    listing = [*storage.list("files"), ListedFile("files/run-2/gone.csv", 100, datetime.now(UTC))]

    class Racing(EncryptedStorage):
        def list(self, prefix: str = ""):
            return iter(listing)

    assert files_by_key(Racing(storage.inner, keyset)) == {keyset.primary_key_id: ["files/run-1/kept.csv"]}
