"""Keysets wrapped by an AWS KMS key: Tink's encrypted JSON keyset format, the key-encryption key in KMS.

A wrapped keyset file holds only ciphertext (``{"encryptedKeyset": ..., "keysetInfo": ...}``, what
Tink's ``json_proto_keyset_format.serialize_encrypted`` writes): a copy of the file, a backup or a
disk image is useless without a grant to decrypt with the KMS key, and every unwrap is on CloudTrail.

``KmsAead`` makes exactly the calls of Tink's own ``AwsKmsAead`` (``tink.integration.awskms``): Encrypt
and Decrypt with the key id, ``EncryptionContext={"associatedData": <hex>}`` when associated data is
non-empty and ``{}`` otherwise. The associated data is empty, as tinkey's ``--master-key-uri`` uses,
so ``tinkey list-keyset``, ``rotate-keyset`` and ``convert-keyset`` work on our files and we read
theirs. (Tink's client is not used directly because it builds its own boto3 session with no
endpoint setting, and wraps every failure in one TinkError, losing which ones are worth a retry.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

# boto3 and botocore are imported where a KMS key is used: every run's process imports this module
# (through the keyset), most deployments wrap no keyset, and boto3 adds about 0.25 s to each run's start.
from tink import TinkError, aead, json_proto_keyset_format, secret_key_access

from export_pipelines.errors import PermanentExportError, TransientDeliveryError

KMS_KEY_ENV = "EXPORT_ENCRYPTION_KEYSET_KMS_KEY"
KMS_ENDPOINT_ENV = "EXPORT_KMS_ENDPOINT_URL"
AWS_KMS_PREFIX = "aws-kms://"  # Tink's key URI scheme; the rest is the key ARN
# Empty, as tinkey's: see the module docstring.
KEYSET_ASSOCIATED_DATA = b""

_TRANSIENT_CODES = {
    "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException", "ThrottlingException",
    "LimitExceededException", "ServiceUnavailableException", "RequestTimeout", "InternalFailure",
}  # fmt: skip
_REASONS = {
    "InvalidCiphertextException": "the keyset was not wrapped by this KMS key, or the file was altered",
    "IncorrectKeyException": "the keyset was wrapped by another KMS key",
    "AccessDeniedException": "KMS refused: this process may not use the key, or the keyset was wrapped by another key",
    "NotFoundException": "no such KMS key (check the id or ARN, and the region)",
    "DisabledException": "the KMS key is disabled; enable it again",
    "KMSInvalidStateException": "the KMS key is not usable (pending deletion or import); cancel its deletion",
    "InvalidKeyUsageException": "the KMS key is not a symmetric ENCRYPT_DECRYPT key",
}


class KmsError(PermanentExportError):
    """KMS refused to wrap or unwrap the keyset, or cannot be configured; the message names the key, never bytes."""


class KmsUnavailable(TransientDeliveryError):
    """KMS did not answer, or answered 'try again' (throttling, internal error): a retry may succeed."""


def kms_key_arn(key: str) -> str:
    """The key id or ARN KMS takes, from an id, alias, ARN or Tink key URI (``aws-kms://arn:...``)."""
    key = key.strip()
    return key[len(AWS_KMS_PREFIX) :] if key.startswith(AWS_KMS_PREFIX) else key


class KmsAead(aead.Aead):
    """Tink's Aead interface over one AWS KMS key, the key-encryption key of a wrapped keyset."""

    def __init__(self, client, key: str):
        self.client = client
        self.key_id = kms_key_arn(key)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        context = _encryption_context(associated_data)
        return self._call("wrap", self.client.encrypt, Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        context = _encryption_context(associated_data)
        answer = self._call("unwrap", self.client.decrypt, CiphertextBlob=ciphertext, EncryptionContext=context)
        return answer["Plaintext"]

    def _call(self, action: str, method, **arguments) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

        try:
            return method(KeyId=self.key_id, **arguments)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _TRANSIENT_CODES:
                raise KmsUnavailable(
                    f"KMS could not {action} the keyset with key {self.key_id} right now ({code}); try again shortly"
                ) from None
            reason = _REASONS.get(code, f"KMS answered {code or 'an error'}")
            raise KmsError(f"KMS key {self.key_id} cannot {action} the keyset: {reason}") from None
        except (ConnectionError, HTTPClientError) as error:  # after botocore's own retries
            raise KmsUnavailable(
                f"KMS is unreachable to {action} the keyset with key {self.key_id} ({type(error).__name__});"
                f" check the network or {KMS_ENDPOINT_ENV}, then try again"
            ) from None
        except BotoCoreError as error:  # credentials missing or unusable: the message names no secret
            raise KmsError(f"KMS key {self.key_id} cannot {action} the keyset: {error}") from None


def _encryption_context(associated_data: bytes) -> dict[str, str]:
    # Byte for byte what tink.integration.awskms passes, so each side decrypts what the other wrapped.
    return {"associatedData": associated_data.hex()} if associated_data else {}


def kms_aead(key: str, environ: Mapping[str, str] = os.environ) -> KmsAead:
    """A KmsAead on ``key``: endpoint from ``EXPORT_KMS_ENDPOINT_URL``, region from the ARN or boto3's chain."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, NoRegionError

    arn = kms_key_arn(key)
    parts = arn.split(":")
    region = parts[3] if arn.startswith("arn:") and len(parts) > 5 and parts[3] else None
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=30)
    try:
        client = boto3.session.Session().client(
            "kms", region_name=region, endpoint_url=environ.get(KMS_ENDPOINT_ENV) or None, config=config
        )
    except NoRegionError:
        raise KmsError(
            f"no AWS region for KMS key {arn}: give the key as an ARN, or set AWS_REGION / AWS_DEFAULT_REGION"
        ) from None
    except (BotoCoreError, ValueError) as error:  # e.g. a malformed endpoint URL
        raise KmsError(f"cannot reach KMS for key {arn}: {error}") from None
    return KmsAead(client, arn)


def is_wrapped(text: str) -> bool:
    """Whether ``text`` is Tink's encrypted JSON keyset (rather than a cleartext one)."""
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and "encryptedKeyset" in document


def wrap_json(cleartext: str, kek: aead.Aead) -> str:
    """Tink's encrypted JSON keyset for a cleartext JSON keyset; Tink checks the result unwraps before returning."""
    handle = json_proto_keyset_format.parse(cleartext, secret_key_access.TOKEN)
    try:
        return json_proto_keyset_format.serialize_encrypted(handle, kek, KEYSET_ASSOCIATED_DATA)
    except TinkError as error:
        raise KmsError(f"the keyset could not be wrapped: {error}") from None


def unwrap_json(text: str, kek: aead.Aead, source: str) -> str:
    """The cleartext JSON keyset inside Tink's encrypted JSON keyset ``text`` (``source`` names it in errors)."""
    try:
        handle = json_proto_keyset_format.parse_encrypted(text, kek, KEYSET_ASSOCIATED_DATA)
    except TinkError as error:  # malformed JSON or an empty / corrupted keyset: no key bytes in the message
        raise KmsError(f"{source} is not a Tink encrypted JSON keyset: {str(error)[:200]}") from None
    return json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
