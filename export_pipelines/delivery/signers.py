"""Where the download button finally sends the browser: a URL signer, chosen by ``EXPORT_URL_SIGNER``.

- ``service`` (default): the service's own signed link, ``/d/<token>/file``, served and decrypted here.
- ``cloudfront``: CloudFront in front of this service. The button leads to ``/d/<token>/go``, which
  answers 303 with a CloudFront signed URL (custom policy, RSA-SHA1) of ``<EXPORT_CLOUDFRONT_URL>/d/<token>/file``.
  The distribution only lets signed requests through to the service, so the file endpoint is reachable
  only at the edge, for minutes. The service still decrypts; responses stay ``private, no-store``, so
  no plaintext lands in the CDN's cache.
- ``s3``: a presigned GetObject URL on ``EXPORT_S3_PLAINTEXT_URL``, for deployments that keep a *plaintext*
  copy of published files there (a replica another system writes, an S3 Object Lambda access point that
  decrypts). This project encrypts every byte it stores, so the store at ``EXPORT_STORAGE_URL`` holds
  ciphertext: a presigned URL on it would hand out ciphertext, and the signer refuses to be pointed at it.

Signed URLs are minted when the user clicks (never baked into an email or a page), for
``EXPORT_SIGNED_URL_TTL`` (10 minutes by default), never past the link's expiry, and for S3 never past
the 7 days SigV4 accepts. A download that started keeps going; a resume after expiry needs a new click.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import ClassVar
from urllib.parse import urlparse

from export_pipelines.delivery.exports import DownloadableExport
from export_pipelines.delivery.links import parse_ttl, public_url
from export_pipelines.errors import SettingsError

SIGNER_ENV = "EXPORT_URL_SIGNER"
TTL_ENV = "EXPORT_SIGNED_URL_TTL"
DEFAULT_TTL = timedelta(minutes=10)
S3_MAX_TTL = timedelta(days=7)  # SigV4 presigned URLs: X-Amz-Expires at most 604800 seconds
_SIGNERS: dict[str, type[UrlSigner]] = {}


class UrlSigner(ABC):
    """Turns a verified download into the URL the browser fetches the file from."""

    name: ClassVar[str]
    direct: ClassVar[bool] = False  # True: the page's button is the file endpoint itself, no redirect

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.ttl = _ttl(environ)

    def href(self, token: str) -> str:
        """The button's target, relative to ``/d/``: the file, or the endpoint that signs and redirects."""
        return f"{token}/file" if self.direct else f"{token}/go"

    def expires(self, export: DownloadableExport, link_expires: datetime, now: datetime, cap=None) -> datetime:
        ends = min(now + self.ttl, link_expires, *([now + cap] if cap else []))
        return min(ends, export.expires_at) if export.expires_at else ends

    @abstractmethod
    def sign(self, export: DownloadableExport, token: str, link_expires: datetime, now: datetime) -> str:
        """The URL to redirect to (303) when the user clicks."""


def register(signer: type[UrlSigner]) -> type[UrlSigner]:
    _SIGNERS[signer.name] = signer
    return signer


def signer_from_env(environ: Mapping[str, str] = os.environ) -> UrlSigner:
    """The deployment's signer; a bad setting stops the service at start, naming the variable."""
    name = (environ.get(SIGNER_ENV) or "service").strip().lower()
    if name not in _SIGNERS:
        raise SettingsError(f"{SIGNER_ENV}={name!r}: use one of {', '.join(sorted(_SIGNERS))}")
    return _SIGNERS[name](environ)


@register
class ServiceSigner(UrlSigner):
    """The service's own EdDSA-signed link: the file endpoint decrypts and serves it."""

    name = "service"
    direct = True

    def sign(self, export, token, link_expires, now) -> str:
        return f"{public_url(self.environ)}/d/{token}/file"


@register
class CloudFrontSigner(UrlSigner):
    """A CloudFront signed URL (custom policy) of this service's file endpoint behind the distribution."""

    name = "cloudfront"

    def __init__(self, environ: Mapping[str, str]):
        super().__init__(environ)
        from botocore.signers import CloudFrontSigner as Botocore

        from export_pipelines.security.cloudfront_key import cloudfront_rsa_signer

        base, key_pair_id, key_path = (_required(environ, name) for name in (
            "EXPORT_CLOUDFRONT_URL", "EXPORT_CLOUDFRONT_KEY_PAIR_ID", "EXPORT_CLOUDFRONT_PRIVATE_KEY"))  # fmt: skip
        if urlparse(base).scheme != "https":
            raise SettingsError(f"EXPORT_CLOUDFRONT_URL={base!r}: give the distribution's https:// address")
        self.base = base.rstrip("/")
        self.signer = Botocore(key_pair_id, cloudfront_rsa_signer(key_path, "EXPORT_CLOUDFRONT_PRIVATE_KEY"))

    def sign(self, export, token, link_expires, now) -> str:
        url = f"{self.base}/d/{token}/file"
        policy = self.signer.build_policy(url, self.expires(export, link_expires, now))
        return self.signer.generate_presigned_url(url, policy=policy)


@register
class S3PresignSigner(UrlSigner):
    """A presigned GetObject on a store that holds plaintext copies: never on this project's own storage."""

    name = "s3"

    def __init__(self, environ: Mapping[str, str]):
        super().__init__(environ)
        from export_pipelines.storage.s3 import S3Storage

        url = _required(environ, "EXPORT_S3_PLAINTEXT_URL")
        if url.rstrip("/") == (environ.get("EXPORT_STORAGE_URL") or "").rstrip("/"):
            raise SettingsError(
                "EXPORT_S3_PLAINTEXT_URL is the export storage itself, which holds only ciphertext: presigned "
                "URLs would hand out encrypted bytes. Point it at a plaintext copy, or use EXPORT_URL_SIGNER=service"
            )
        if not url.startswith("s3://"):
            raise SettingsError(f"EXPORT_S3_PLAINTEXT_URL={url!r}: write s3://bucket or s3://bucket/prefix")
        self.store = S3Storage.from_url(url)
        # SigV4 always: it is what lets X-Amz-Expires say how long the URL works (and what AWS regions require).
        import boto3
        from botocore.config import Config

        settings = self.store.settings
        config = settings.client_config().merge(Config(signature_version="s3v4"))
        self.client = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config)

    def sign(self, export, token, link_expires, now) -> str:
        from export_pipelines.storage import FileAttributes

        seconds = int((self.expires(export, link_expires, now, cap=S3_MAX_TTL) - now).total_seconds())
        params = {
            "Bucket": self.store.bucket,
            "Key": self.store.prefix + export.file_key,
            "ResponseContentDisposition": FileAttributes(file_name=export.file_name).content_disposition(),
            "ResponseContentType": export.media_type,
        }
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=max(seconds, 1))


def _ttl(environ: Mapping[str, str]) -> timedelta:
    raw = environ.get(TTL_ENV)
    try:
        return parse_ttl(raw) if raw else DEFAULT_TTL
    except ValueError as error:
        raise SettingsError(f"{TTL_ENV}: {error}") from None


def _required(environ: Mapping[str, str], name: str) -> str:
    value = (environ.get(name) or "").strip()
    if not value:
        raise SettingsError(f"{name} is needed with {SIGNER_ENV}={environ.get(SIGNER_ENV)}")
    return value
