"""KMS-wrapped keysets against a real KMS endpoint (moto_server): Tink's encrypted format both ways,
loading through the environment, no key bytes on disk or in errors, rotation, and KMS failures."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
import tink
from tink import json_proto_keyset_format, secret_key_access, streaming_aead
from tink.integration import awskms

from export_pipelines.security.keyset import Keyset, KeysetError
from export_pipelines.security.keyset_store import KEYSET_ENV, keyset_from_env, load_keyset, save_keyset
from export_pipelines.security.kms import (
    KEYSET_ASSOCIATED_DATA,
    KMS_ENDPOINT_ENV,
    KMS_KEY_ENV,
    KmsAead,
    KmsError,
    KmsUnavailable,
    is_wrapped,
    kms_aead,
)
from export_pipelines.storage import storage_from_url
from export_pipelines.storage.encrypted import EncryptedStorage
from export_pipelines_tests.services import free_port

streaming_aead.register()


def environment(path, key: str) -> dict[str, str]:
    return {**os.environ, KEYSET_ENV: str(path), KMS_KEY_ENV: key}


def key_bytes_forms(keyset: Keyset) -> list[bytes]:
    """Every way a key could show up in a file or a message: raw, base64 (as cleartext JSON holds it), hex."""
    forms = []
    for key in keyset.entries:
        forms += [key.key_value, base64.b64encode(key.key_value), key.key_value.hex().encode()]
    return forms


def test_wrapped_keyset_from_env_encrypts_files_and_holds_no_key_bytes(kms, tmp_path):
    arn = kms.create_key()
    path = tmp_path / "keys" / "keyset.json"
    keyset = Keyset.generate().rotated()
    save_keyset(keyset, path, arn)

    loaded = keyset_from_env(environment(path, arn), data_dir=tmp_path / "unused")

    assert loaded == keyset
    stored = path.read_bytes()
    assert is_wrapped(stored.decode()) and set(json.loads(stored)) == {"encryptedKeyset", "keysetInfo"}
    wrapped = base64.b64decode(json.loads(stored)["encryptedKeyset"])
    for form in key_bytes_forms(keyset):
        assert form not in stored and form not in wrapped
    assert not (tmp_path / "unused").exists(), "no development keyset is created beside a wrapped one"
    storage = EncryptedStorage(storage_from_url(str(tmp_path / "files")), loaded)
    with storage.open_write("exports/run/report.csv") as target:
        target.write(b"id,amount\n1,10\n" * 1000)
    with storage.open_read("exports/run/report.csv") as source:
        assert source.read() == b"id,amount\n1,10\n" * 1000
    assert b"id,amount" not in (tmp_path / "files" / "exports" / "run" / "report.csv").read_bytes()


def test_tink_opens_our_wrapped_keyset_and_we_open_tinks(kms, tmp_path):
    arn = kms.create_key()
    tinks_aead = awskms.new_client(boto3_client=kms.client, key_uri=f"aws-kms://{arn}").get_aead(f"aws-kms://{arn}")
    ours = Keyset.generate()
    save_keyset(ours, tmp_path / "ours.json", f"aws-kms://{arn}")  # Tink's key URI form is accepted too

    handle = json_proto_keyset_format.parse_encrypted(
        (tmp_path / "ours.json").read_text(), tinks_aead, KEYSET_ASSOCIATED_DATA
    )
    assert handle.keyset_info().primary_key_id == ours.primary_key_id

    theirs = tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)
    (tmp_path / "theirs.json").write_text(
        json_proto_keyset_format.serialize_encrypted(theirs, tinks_aead, KEYSET_ASSOCIATED_DATA)
    )
    loaded = load_keyset(tmp_path / "theirs.json", arn)
    cleartext = json_proto_keyset_format.serialize(theirs, secret_key_access.TOKEN)
    assert loaded == Keyset.from_json(cleartext, "tink")

    # Non-empty associated data travels as Tink's encryption context: each side opens the other's.
    ad = b"export_pipelines keyset"
    assert tinks_aead.decrypt(kms_aead(arn).encrypt(b"secret", ad), ad) == b"secret"
    assert kms_aead(arn).decrypt(tinks_aead.encrypt(b"secret", ad), ad) == b"secret"
    with pytest.raises(KmsError):
        kms_aead(arn).decrypt(tinks_aead.encrypt(b"secret", ad), b"")


def test_wrong_kms_key_is_a_clear_error_without_key_bytes(kms, tmp_path):
    right, wrong = kms.create_key(), kms.create_key()
    path = tmp_path / "keyset.json"
    keyset = Keyset.generate()
    save_keyset(keyset, path, right)

    with pytest.raises(KeysetError) as error:
        keyset_from_env(environment(path, wrong), data_dir=tmp_path)

    message = str(error.value)
    assert KMS_KEY_ENV in message and KEYSET_ENV in message and str(path) in message and wrong in message
    assert "wrapped by another key" in message
    for form in key_bytes_forms(keyset):
        assert form.decode("latin-1") not in message


def test_wrapped_file_without_kms_variable_and_cleartext_file_with_it_are_named(kms, tmp_path):
    arn = kms.create_key()
    wrapped, cleartext = tmp_path / "wrapped.json", tmp_path / "cleartext.json"
    save_keyset(Keyset.generate(), wrapped, arn)
    save_keyset(Keyset.generate(), cleartext)
    no_kms = {k: v for k, v in os.environ.items() if k != KMS_KEY_ENV}

    with pytest.raises(KeysetError, match=f"{wrapped} is a KMS-wrapped keyset: set {KMS_KEY_ENV}"):
        keyset_from_env({**no_kms, KEYSET_ENV: str(wrapped)}, data_dir=tmp_path)
    with pytest.raises(KeysetError, match=f"{cleartext} is a cleartext keyset, not one wrapped by KMS key"):
        keyset_from_env(environment(cleartext, arn), data_dir=tmp_path)
    with pytest.raises(KeysetError, match="does not exist.*keys generate --kms-key"):
        keyset_from_env({**no_kms, KMS_KEY_ENV: arn}, data_dir=tmp_path / "fresh")  # never created silently


def test_rotation_keeps_the_keyset_wrapped_and_older_files_readable(kms, tmp_path):
    arn = kms.create_key()
    path = tmp_path / "keyset.json"
    save_keyset(Keyset.generate(), path, arn)
    first = load_keyset(path, arn)
    storage = EncryptedStorage(storage_from_url(str(tmp_path / "files")), first)
    with storage.open_write("exports/old/file.csv") as target:
        target.write(b"written before rotation")

    save_keyset(first.rotated(), path, arn)
    rotated = keyset_from_env(environment(path, arn), data_dir=tmp_path)

    assert is_wrapped(path.read_text()) and rotated.primary_key_id != first.primary_key_id
    reader = EncryptedStorage(storage.inner, rotated)
    with reader.open_read("exports/old/file.csv") as source:
        assert source.read() == b"written before rotation"
    assert reader.key_for("exports/old/file.csv").key_id == first.primary_key_id


def test_unwrapped_once_per_file_version(kms, tmp_path):
    arn = kms.create_key()
    path = tmp_path / "keyset.json"
    save_keyset(Keyset.generate(), path, arn)
    first = keyset_from_env(environment(path, arn), data_dir=tmp_path)

    unreachable = {**environment(path, arn), KMS_ENDPOINT_ENV: f"http://127.0.0.1:{free_port()}"}
    assert keyset_from_env(unreachable, data_dir=tmp_path) is first  # no KMS call: the cache answered


def test_unreachable_kms_is_transient_and_says_so(kms, tmp_path):
    arn = kms.create_key()
    path = tmp_path / "keyset.json"
    save_keyset(Keyset.generate(), path, arn)
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()

    with pytest.raises(KmsUnavailable) as error:
        keyset_from_env({**environment(path, arn), KMS_ENDPOINT_ENV: dead}, data_dir=tmp_path)

    message = str(error.value)
    assert KMS_KEY_ENV in message and str(path) in message and arn in message
    assert "unreachable" in message and KMS_ENDPOINT_ENV in message and "try again" in message
    assert time.monotonic() - started < 60


def test_kms_throttling_is_transient():
    from botocore.exceptions import ClientError

    class Throttled:
        def decrypt(self, **arguments):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Decrypt")

    with pytest.raises(KmsUnavailable, match="ThrottlingException.*try again"):
        KmsAead(Throttled(), "aws-kms://arn:aws:kms:eu-west-1:1:key/k").decrypt(b"x", b"")
