"""The keyset file: Tink's JSON format both ways, private files, rotation, the env variable and the default."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import stat

import pytest
import tink
from tink import cleartext_keyset_handle, json_proto_keyset_format, secret_key_access, streaming_aead

from export_pipelines.security import keyset_store
from export_pipelines.security.keyset import Keyset, KeysetError, UnknownKeyError
from export_pipelines.security.keyset_store import KEYSET_ENV, keyset_from_env, load_keyset, save_keyset
from export_pipelines.security.streaming_aead import DecryptingReader, EncryptingWriter

AD = b"exports/report.csv"

streaming_aead.register()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def our_encrypt(keyset: Keyset, data: bytes) -> bytes:
    sink = io.BytesIO()
    with EncryptingWriter(sink, keyset.primary, AD) as writer:
        writer.write(data)
    return sink.getvalue()


def tink_primitive(text: str):
    handle = json_proto_keyset_format.parse(text, secret_key_access.TOKEN)
    return handle.primitive(streaming_aead.StreamingAead)


def test_our_keyset_is_read_by_tink_and_tinks_by_us():
    ours = Keyset.generate()
    data = os.urandom(100_000)
    ciphertext = our_encrypt(ours, data)
    handle = cleartext_keyset_handle.read(tink.JsonKeysetReader(ours.to_json()))
    with handle.primitive(streaming_aead.StreamingAead).new_decrypting_stream(io.BytesIO(ciphertext), AD) as stream:
        assert stream.read() == data
    assert tink_primitive(ours.rotated().to_json()) is not None

    handle = tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)
    theirs = Keyset.from_json(json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN), "tink")
    assert theirs.primary_key_id == handle.keyset_info().primary_key_id

    class Kept(io.BytesIO):
        def close(self):
            self.kept = self.getvalue()
            super().close()

    sink = Kept()
    with handle.primitive(streaming_aead.StreamingAead).new_encrypting_stream(sink, AD) as stream:
        stream.write(data)
    assert DecryptingReader(io.BytesIO(sink.kept), theirs.keys, AD).read() == data


def test_save_load_round_trip_with_private_modes(tmp_path):
    keyset = Keyset.generate()
    path = tmp_path / "new" / "deeper" / "keyset.json"
    save_keyset(keyset, path)
    assert load_keyset(path) == keyset
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    assert os.listdir(path.parent) == ["keyset.json"]  # no temporary left behind
    assert json.loads(path.read_text())["primaryKeyId"] == keyset.primary_key_id


def test_rotation_keeps_old_files_readable(tmp_path):
    path = tmp_path / "keyset.json"
    first = Keyset.generate()
    save_keyset(first, path)
    data = os.urandom(5000)
    old = our_encrypt(load_keyset(path), data)
    save_keyset(load_keyset(path).rotated(), path)
    rotated = load_keyset(path)
    assert rotated.primary_key_id != first.primary_key_id and len(rotated.keys) == 2
    assert rotated.keys[0] is rotated.primary and rotated.key(first.primary_key_id) == first.primary
    reader = DecryptingReader(io.BytesIO(old), rotated.keys, AD)
    assert reader.read() == data and reader.key.key_id == first.primary_key_id
    new = our_encrypt(rotated, data)
    assert DecryptingReader(io.BytesIO(new), [rotated.key(rotated.primary_key_id)], AD).read() == data
    with tink_primitive(rotated.to_json()).new_decrypting_stream(io.BytesIO(old), AD) as stream:
        assert stream.read() == data


def test_without_refuses_the_primary_and_unknown_ids():
    keyset = Keyset.generate().rotated()
    with pytest.raises(KeysetError, match="primary"):
        keyset.without(keyset.primary_key_id)
    old = next(k.key_id for k in keyset.keys if k.key_id != keyset.primary_key_id)
    assert [k.key_id for k in keyset.without(old).keys] == [keyset.primary_key_id]
    with pytest.raises(UnknownKeyError) as missing:
        keyset.key(12345)
    assert isinstance(missing.value, KeyError) and "12345" in str(missing.value) and "backup" in str(missing.value)


def test_reprs_hide_key_bytes():
    keyset = Keyset.generate()
    secret = keyset.primary.key_value
    for text in (repr(keyset), repr(keyset.primary), str(keyset.primary)):
        assert secret.hex() not in text and repr(secret) not in text and "key_value" not in text


def test_malformed_files_name_the_source_and_no_bytes(tmp_path):
    path = tmp_path / "keyset.json"
    path.write_text("{not json")
    with pytest.raises(KeysetError, match=str(path)):
        load_keyset(path)
    document = json.loads(Keyset.generate().to_json())
    document["key"][0]["keyData"]["typeUrl"] = "type.googleapis.com/google.crypto.tink.AesGcmKey"
    with pytest.raises(KeysetError, match="not an AES-GCM-HKDF streaming key") as error:
        Keyset.from_json(json.dumps(document), "somewhere.json")
    assert "somewhere.json" in str(error.value) and document["key"][0]["keyData"]["value"] not in str(error.value)


def test_disabled_keys_are_unused_but_kept():
    keyset = Keyset.generate().rotated()
    document = json.loads(keyset.to_json())
    old = next(entry for entry in document["key"] if entry["keyId"] != keyset.primary_key_id)
    old["status"] = "DISABLED"
    loaded = Keyset.from_json(json.dumps(document), "test")
    assert [k.key_id for k in loaded.keys] == [keyset.primary_key_id]
    saved = json.loads(loaded.to_json())
    by_id = lambda entries: sorted(entries, key=lambda entry: entry["keyId"])  # noqa: E731
    assert saved["primaryKeyId"] == document["primaryKeyId"] and by_id(saved["key"]) == by_id(document["key"])
    assert loaded.rotated().primary_key_id not in (old["keyId"], keyset.primary_key_id)


def test_env_variable_pointing_nowhere_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(KeysetError) as error:
        keyset_from_env({KEYSET_ENV: str(missing)}, data_dir=tmp_path)
    assert KEYSET_ENV in str(error.value) and str(missing) in str(error.value)
    save_keyset(Keyset.generate(), missing)
    assert keyset_from_env({KEYSET_ENV: str(missing)}, data_dir=tmp_path) == load_keyset(missing)
    assert not (tmp_path / "keys").exists()


def test_default_keyset_is_created_once_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=keyset_store.__name__):
        first = keyset_from_env({}, data_dir=tmp_path)
        second = keyset_from_env({}, data_dir=tmp_path)
    path = tmp_path / "keys" / "keyset.json"
    assert first is second  # cached: not parsed again
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(path) in message and "back it up" in message and KEYSET_ENV in message
    assert first.primary.key_value.hex() not in message
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_cache_notices_a_changed_file(tmp_path):
    path = tmp_path / "keyset.json"
    save_keyset(Keyset.generate(), path)
    first = load_keyset(path)
    assert load_keyset(path) is first
    save_keyset(first.rotated(), path)
    assert load_keyset(path).primary_key_id != first.primary_key_id


def create_default(data_dir: str, barrier, results) -> None:
    barrier.wait()
    results.put(keyset_from_env({}, data_dir=data_dir).primary_key_id)


def test_concurrent_creators_end_with_one_keyset(tmp_path):
    context = multiprocessing.get_context("spawn")  # tink's native code is not fork-safe to rely on
    count = 4
    barrier, results = context.Barrier(count), context.Queue()
    processes = [context.Process(target=create_default, args=(str(tmp_path), barrier, results)) for _ in range(count)]
    for process in processes:
        process.start()
    ids = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(set(ids)) == 1 and load_keyset(tmp_path / "keys" / "keyset.json").primary_key_id == ids[0]
    assert os.listdir(tmp_path / "keys") == ["keyset.json"]
