"""The CloudFront key pair's private half: read here, used only to sign, never logged or returned.

CloudFront signed URLs are RSA-SHA1 (PKCS#1 v1.5) over the policy, as CloudFront verifies them; the
key is an RSA key in PEM whose public half is in the distribution's trusted key group.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from export_pipelines.errors import SettingsError


def cloudfront_rsa_signer(path: str, setting: str) -> Callable[[bytes], bytes]:
    """A function that signs a policy with the RSA key at ``path`` (named by ``setting`` in errors)."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as error:
        raise SettingsError(f"{setting}: cannot read {path} ({error.strerror})") from None
    except (ValueError, TypeError):
        raise SettingsError(f"{setting}: {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SettingsError(f"{setting}: {path} must hold an RSA key (CloudFront signs with RSA-SHA1)")

    def sign(message: bytes) -> bytes:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - what CloudFront verifies

    return sign
