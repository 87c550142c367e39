"""The encryption keyset: Tink's cleartext JSON keyset format, read and written here and only here.

Tink's own format, so that ``tink`` can open a keyset we wrote and we can use one ``tinkey`` made: the
files stay decryptable without this code. Protos and JSON mapping are Tink's (``tink.proto`` and
protobuf's ``json_format``, exactly what Tink's JsonKeysetReader/Writer use).

A deployment supplies its keyset through ``EXPORT_ENCRYPTION_KEYSET``, wrapped by an AWS KMS key when
``EXPORT_ENCRYPTION_KEYSET_KMS_KEY`` is set (Tink's encrypted JSON keyset, see ``security.kms``); without
either a development keyset is created under the data folder on first use, with a warning, so that a
fresh checkout just works.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2
from tink.streaming_aead import streaming_aead_key_templates

from export_pipelines.errors import PermanentExportError
from export_pipelines.security import kms
from export_pipelines.security.key_files import ParsedKeyFiles, create_once
from export_pipelines.security.kms import KMS_KEY_ENV, KmsError, KmsUnavailable
from export_pipelines.security.private_files import write_private
from export_pipelines.security.streaming_aead import StreamingKey

logger = logging.getLogger(__name__)

KEYSET_ENV = "EXPORT_ENCRYPTION_KEYSET"
KEY_TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey"
# The one template new keys follow; its parameters are read from Tink's own template so they cannot drift.
TEMPLATE = streaming_aead_key_templates.AES256_GCM_HKDF_1MB


class KeysetError(PermanentExportError):
    """The keyset file is missing, unreadable or malformed; the message names the file, never key bytes."""


class UnknownKeyError(KeysetError, KeyError):
    """No key with this id in the keyset: the file was encrypted with a key that has since been removed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Keyset:
    """Enabled streaming keys and which one encrypts new files. Immutable: changes return a new Keyset.

    ``keys`` lists the primary first, so decrypting with ``keys`` tries the likeliest key first. Keys
    that are not ENABLED (disabled or destroyed in Tink) are not used but kept as they were on save.
    """

    primary_key_id: int
    entries: tuple[StreamingKey, ...]  # enabled keys, in file order
    others: tuple[bytes, ...] = field(default=(), repr=False)  # serialized non-enabled Keyset.Key protos

    def __post_init__(self) -> None:
        ids = [key.key_id for key in self.entries]
        if len(set(ids)) != len(ids):
            raise KeysetError("the keyset holds two keys with the same id")
        if self.primary_key_id not in ids:
            raise KeysetError(f"the primary key {self.primary_key_id} is not an enabled key of the keyset")

    @property
    def primary(self) -> StreamingKey:
        return self.key(self.primary_key_id)

    @property
    def keys(self) -> tuple[StreamingKey, ...]:
        return (self.primary, *(key for key in self.entries if key.key_id != self.primary_key_id))

    def key(self, key_id: int) -> StreamingKey:
        for key in self.entries:
            if key.key_id == key_id:
                return key
        raise UnknownKeyError(
            f"no enabled key {key_id} in the encryption keyset: the file was encrypted with a key that was"
            " removed or disabled; restore that key from the keyset backup to read it"
        )

    @classmethod
    def generate(cls) -> Keyset:
        """A keyset of one fresh AES256_GCM_HKDF_1MB key."""
        key = _new_key(set())
        return cls(key.key_id, (key,))

    def rotated(self) -> Keyset:
        """This keyset plus a new key that becomes primary; the old keys stay enabled for decryption."""
        key = _new_key({k.key_id for k in self.entries} | {_key_id_of(raw) for raw in self.others})
        return Keyset(key.key_id, (*self.entries, key), self.others)

    def without(self, key_id: int) -> Keyset:
        """This keyset minus ``key_id``: files encrypted with it become unreadable. The primary cannot go."""
        if key_id == self.primary_key_id:
            raise KeysetError(f"key {key_id} is the primary key; rotate to a new primary before removing it")
        self.key(key_id)  # UnknownKeyError if absent
        return Keyset(self.primary_key_id, tuple(k for k in self.entries if k.key_id != key_id), self.others)

    def to_json(self) -> str:
        keyset = tink_pb2.Keyset(primary_key_id=self.primary_key_id)
        for key in self.entries:
            keyset.key.append(_key_proto(key))
        for raw in self.others:
            keyset.key.add().ParseFromString(raw)
        return json_format.MessageToJson(keyset)

    @classmethod
    def from_json(cls, text: str, source: str) -> Keyset:
        """Parse Tink's JSON keyset format; ``source`` (a path, a variable) is named in every error."""
        try:
            keyset = json_format.Parse(text, tink_pb2.Keyset())
        except (json_format.ParseError, ValueError) as error:
            # protobuf's message names a field or a JSON position, not a value
            raise KeysetError(f"{source} is not a Tink JSON keyset: {str(error)[:200]}") from None
        entries, others = [], []
        for proto in keyset.key:
            if proto.status != tink_pb2.ENABLED:
                others.append(proto.SerializeToString())
                continue
            entries.append(_streaming_key(proto, source))
        try:
            return cls(keyset.primary_key_id, tuple(entries), tuple(others))
        except KeysetError as error:
            raise KeysetError(f"{source}: {error}") from None


def _new_key(taken: set[int]) -> StreamingKey:
    # os.urandom and Tink's template rather than Tink's key manager: the manager's keys only leave a
    # KeysetHandle through its "insecure" export, a detour that produces the same random bytes.
    key_format = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKeyFormat.FromString(TEMPLATE.value)
    key_id = 0
    while key_id == 0 or key_id in taken:  # Tink's ids: random, positive 31-bit, unique in the keyset
        key_id = secrets.randbits(31)
    return StreamingKey(
        key_id=key_id,
        key_value=os.urandom(key_format.key_size),
        derived_key_size=key_format.params.derived_key_size,
        hkdf_hash=common_pb2.HashType.Name(key_format.params.hkdf_hash_type),
        segment_size=key_format.params.ciphertext_segment_size,
    )


def _key_proto(key: StreamingKey) -> tink_pb2.Keyset.Key:
    params = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
        ciphertext_segment_size=key.segment_size,
        derived_key_size=key.derived_key_size,
        hkdf_hash_type=common_pb2.HashType.Value(key.hkdf_hash),
    )
    value = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(version=0, params=params, key_value=key.key_value)
    return tink_pb2.Keyset.Key(
        key_data=tink_pb2.KeyData(
            type_url=KEY_TYPE_URL, value=value.SerializeToString(), key_material_type=tink_pb2.KeyData.SYMMETRIC
        ),
        status=tink_pb2.ENABLED,
        key_id=key.key_id,
        output_prefix_type=tink_pb2.RAW,
    )


def _streaming_key(proto: tink_pb2.Keyset.Key, source: str) -> StreamingKey:
    where = f"{source}: key {proto.key_id}"
    if proto.key_data.type_url != KEY_TYPE_URL:
        raise KeysetError(f"{where} is a {proto.key_data.type_url}, not an AES-GCM-HKDF streaming key")
    if proto.output_prefix_type != tink_pb2.RAW:
        raise KeysetError(f"{where} must have output prefix RAW, as Tink's streaming keys do")
    try:
        value = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey.FromString(proto.key_data.value)
    except DecodeError:
        raise KeysetError(f"{where} has a malformed key value") from None
    if value.version != 0:
        raise KeysetError(f"{where} has key version {value.version}; only version 0 exists")
    try:
        return StreamingKey(
            key_id=proto.key_id,
            key_value=value.key_value,
            derived_key_size=value.params.derived_key_size,
            hkdf_hash=common_pb2.HashType.Name(value.params.hkdf_hash_type),
            segment_size=value.params.ciphertext_segment_size,
        )
    except ValueError as error:  # StreamingKey's messages name parameters, never bytes
        raise KeysetError(f"{source}: {error}") from None


def _key_id_of(raw: bytes) -> int:
    return tink_pb2.Keyset.Key.FromString(raw).key_id


# --- files -------------------------------------------------------------------------------------------

_files: ParsedKeyFiles[Keyset] = ParsedKeyFiles("keyset file", KeysetError)


def load_keyset(path: Path | str, kms_key: str | None = None, *, environ: Mapping[str, str] = os.environ) -> Keyset:
    """The keyset in ``path``, unwrapped with ``kms_key`` when given; parsed (and KMS called) once per file version.

    A file version is its path, inode, size and mtime, per process and KMS key.
    """
    path = Path(path)

    def parse(text: str) -> Keyset:
        if kms_key and not kms.is_wrapped(text):
            raise KeysetError(f"{path} is a cleartext keyset, not one wrapped by KMS key {kms_key}")
        if not kms_key and kms.is_wrapped(text):
            raise KeysetError(f"{path} is a KMS-wrapped keyset: set {KMS_KEY_ENV} to the KMS key that wraps it")
        if kms_key:
            text = kms.unwrap_json(text, kms.kms_aead(kms_key, environ), str(path))
        return Keyset.from_json(text, str(path))

    return _files.load(path, parse, variant=kms_key)


def save_keyset(
    keyset: Keyset,
    path: Path | str,
    kms_key: str | None = None,
    *,
    new: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Write ``keyset`` to ``path`` atomically (temporary file, then rename), mode 0600, folder 0700.

    With ``kms_key`` the file is Tink's encrypted JSON keyset, wrapped by that KMS key. With ``new``
    an existing file is never replaced, even by a racing writer (KeysetError instead).
    """
    path = Path(path)
    text = kms.wrap_json(keyset.to_json(), kms.kms_aead(kms_key, environ)) if kms_key else keyset.to_json()
    if not write_private(path, text, new=new):
        raise KeysetError(f"{path} exists already: use 'keys rotate' to add a key to it")


def default_keyset_path(data_dir: Path) -> Path:
    return Path(data_dir) / "keys" / "keyset.json"


def keyset_from_env(environ: Mapping[str, str] = os.environ, *, data_dir: Path) -> Keyset:
    """The deployment's keyset (``EXPORT_ENCRYPTION_KEYSET``, KMS-wrapped when ``EXPORT_ENCRYPTION_KEYSET_KMS_KEY``
    is set), else the development keyset under ``data_dir``, created on first use.

    A KMS-wrapped keyset is never created here: without its file (``$EXPORT_ENCRYPTION_KEYSET`` or the
    data folder's) this fails, rather than quietly encrypt with a key nobody backed up.
    """
    configured = environ.get(KEYSET_ENV)
    kms_key = environ.get(KMS_KEY_ENV, "").strip() or None
    if configured or kms_key:
        path = configured or default_keyset_path(data_dir)
        setting = f"{KEYSET_ENV} is set to {configured}" if configured else f"{KEYSET_ENV} is not set"
        if kms_key:
            setting += f" and {KMS_KEY_ENV} to {kms_key}"
        try:
            return load_keyset(path, kms_key, environ=environ)
        except KmsUnavailable as error:
            raise KmsUnavailable(f"{setting}: {error}") from None
        except (KeysetError, KmsError) as error:
            hint = (
                f"Point {KEYSET_ENV} at the deployment's Tink encrypted JSON keyset, wrapped by that key (made with"
                " 'export-pipelines keys generate --kms-key KEY' or tinkey --master-key-uri)"
                if kms_key
                else "Point it at the deployment's Tink JSON keyset file, readable by this process"
            )
            raise KeysetError(f"{setting}, but {error}. {hint}") from None
    path = default_keyset_path(data_dir)
    if create_once(path, lambda: Keyset.generate().to_json()):
        logger.warning(
            "Created a new encryption keyset at %s because %s is not set. Every stored export is encrypted with it:"
            " back it up, losing it makes those files unreadable. Production deployments supply their own keyset"
            " file through %s (a Tink JSON keyset, e.g. made with tinkey).",
            path,
            KEYSET_ENV,
            KEYSET_ENV,
        )
    return load_keyset(path)
