"""The encryption keyset: Tink's cleartext JSON keyset format, read and written here and only here.

Tink's own format, so that ``tink`` can open a keyset we wrote and we can use one ``tinkey`` made: the
files stay decryptable without this code. Protos and JSON mapping are Tink's (``tink.proto`` and
protobuf's ``json_format``, exactly what Tink's JsonKeysetReader/Writer use).

Where a deployment's keyset file is, and how it is read, written and KMS-wrapped, is ``keyset_store``'s.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2
from tink.streaming_aead import streaming_aead_key_templates

from export_pipelines.errors import PermanentExportError
from export_pipelines.security.streaming_aead import StreamingKey

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
