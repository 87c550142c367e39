"""URL signers: S3 presigned URLs fetched from the moto server, CloudFront signatures checked as CloudFront does."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from export_pipelines.delivery.exports import DownloadableExport
from export_pipelines.delivery.signers import S3_MAX_TTL, signer_from_env
from export_pipelines.errors import SettingsError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def export(file_key="files/run-1/orders-20260301T120000Z.csv", expires_at=NOW + timedelta(days=30)):
    return DownloadableExport(run_id="run-1", owner="ana", dataset="orders", title=None, format="csv", rows=2,
                              rows_withheld=False, size=11, sha256="0" * 64, created_at=NOW, expires_at=expires_at,
                              filters=None, file_key=file_key, file_name=file_key.rsplit("/", 1)[1],
                              media_type="text/csv")  # fmt: skip


@pytest.fixture
def cloudfront(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "cloudfront.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    environ = {"EXPORT_URL_SIGNER": "cloudfront", "EXPORT_CLOUDFRONT_URL": "https://d111.cloudfront.net",
               "EXPORT_CLOUDFRONT_KEY_PAIR_ID": "K2JCJMDEHXQW5F",
               "EXPORT_CLOUDFRONT_PRIVATE_KEY": str(path)}  # fmt: skip
    return environ, key.public_key()


def cloudfront_b64decode(text: str) -> bytes:
    """CloudFront's URL-safe base64: + = / written as - _ ~."""
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def test_the_default_signer_is_the_services_own_link():
    signer = signer_from_env({})

    assert signer.name == "service" and signer.href("tok") == "tok/file"
    assert signer.sign(export(), "tok", NOW + timedelta(days=1), NOW) == "http://127.0.0.1:8080/d/tok/file"
    with pytest.raises(SettingsError, match="EXPORT_URL_SIGNER='ftp'"):
        signer_from_env({"EXPORT_URL_SIGNER": "ftp"})


def test_a_cloudfront_url_verifies_with_the_public_key_over_its_policy(cloudfront):
    environ, public_key = cloudfront
    signer = signer_from_env(environ)

    url = signer.sign(export(), "tok", NOW + timedelta(days=1), NOW)

    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://d111.cloudfront.net/d/tok/file"
    assert query["Key-Pair-Id"] == "K2JCJMDEHXQW5F" and signer.href("tok") == "tok/go"
    policy = cloudfront_b64decode(query["Policy"])
    public_key.verify(cloudfront_b64decode(query["Signature"]), policy, padding.PKCS1v15(), hashes.SHA1())
    (statement,) = json.loads(policy)["Statement"]
    assert statement["Resource"] == "https://d111.cloudfront.net/d/tok/file"
    assert statement["Condition"]["DateLessThan"]["AWS:EpochTime"] == int((NOW + timedelta(minutes=10)).timestamp())


def test_a_cloudfront_url_never_outlives_the_link_or_the_file(cloudfront):
    environ, _ = cloudfront
    signer = signer_from_env({**environ, "EXPORT_SIGNED_URL_TTL": "30d"})

    url = signer.sign(export(expires_at=NOW + timedelta(days=3)), "tok", NOW + timedelta(hours=2), NOW)

    policy = json.loads(cloudfront_b64decode(parse_qs(urlsplit(url).query)["Policy"][0]))
    assert policy["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"] == int(
        (NOW + timedelta(hours=2)).timestamp())  # fmt: skip


def test_cloudfront_settings_are_checked_at_start(cloudfront, tmp_path):
    environ, _ = cloudfront
    with pytest.raises(SettingsError, match="EXPORT_CLOUDFRONT_KEY_PAIR_ID is needed"):
        signer_from_env({**environ, "EXPORT_CLOUDFRONT_KEY_PAIR_ID": ""})
    (tmp_path / "not-a-key.pem").write_text("nope")
    with pytest.raises(SettingsError, match="not an unencrypted PEM private key"):
        signer_from_env({**environ, "EXPORT_CLOUDFRONT_PRIVATE_KEY": str(tmp_path / "not-a-key.pem")})


def test_an_s3_presigned_url_fetches_the_plaintext_copy_with_the_files_name(s3_env):
    import os

    bucket = s3_env.create_bucket("plain")
    now = datetime.now(UTC)  # the moto server checks the signature's time against its own clock
    item = export(expires_at=now + timedelta(days=30))
    s3_env.client.put_object(Bucket=bucket, Key=f"copies/{item.file_key}", Body=b"id,amount\n1,2\n")
    signer = signer_from_env({**os.environ, "EXPORT_URL_SIGNER": "s3", "EXPORT_S3_PLAINTEXT_URL": f"s3://{bucket}/copies",
                              "EXPORT_STORAGE_URL": f"s3://{bucket}/exports"})  # fmt: skip

    url = signer.sign(item, "tok", now + timedelta(days=1), now)

    response = requests.get(url, timeout=30)
    assert response.status_code == 200 and response.content == b"id,amount\n1,2\n"
    assert response.headers["content-disposition"] == f'attachment; filename="{item.file_name}"'
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["600"]


def test_an_s3_presigned_url_lasts_at_most_the_seven_days_sigv4_allows(s3_env):
    import os

    signer = signer_from_env({**os.environ, "EXPORT_URL_SIGNER": "s3", "EXPORT_S3_PLAINTEXT_URL": "s3://plain",
                              "EXPORT_SIGNED_URL_TTL": "30d"})  # fmt: skip

    url = signer.sign(export(expires_at=NOW + timedelta(days=60)), "tok", NOW + timedelta(days=60), NOW)

    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(int(S3_MAX_TTL.total_seconds()))]


def test_the_s3_signer_refuses_the_encrypted_export_storage():
    environ = {"EXPORT_URL_SIGNER": "s3", "EXPORT_S3_PLAINTEXT_URL": "s3://exports/data",
               "EXPORT_STORAGE_URL": "s3://exports/data/"}  # fmt: skip
    with pytest.raises(SettingsError, match="holds only ciphertext"):
        signer_from_env(environ)
    with pytest.raises(SettingsError, match="EXPORT_S3_PLAINTEXT_URL is needed"):
        signer_from_env({"EXPORT_URL_SIGNER": "s3"})


def test_the_button_signs_on_click_and_redirects_with_303(world, clock, cloudfront):
    import os

    from dagster import DagsterInstance

    from export_pipelines.service.app import create_app
    from export_pipelines_tests.delivery.conftest import start_server

    environ, public_key = cloudfront
    server = start_server(create_app(instance=DagsterInstance.get(), storage=world.storage, now=world.clock,
                                     environ={**os.environ, **environ}))  # fmt: skip
    try:
        link = world.link(world.small)
        page = requests.get(f"{server.url}/d/{link.token}", timeout=30)
        go = requests.get(f"{server.url}/d/{link.token}/go", allow_redirects=False, timeout=30)
    finally:
        server.stop()

    assert f'href="{link.token}/go"' in page.text
    assert go.status_code == 303 and go.headers["cache-control"] == "private, no-store"
    assert go.headers["location"].startswith(f"https://d111.cloudfront.net/d/{link.token}/file?")
    query = parse_qs(urlsplit(go.headers["location"]).query)
    public_key.verify(cloudfront_b64decode(query["Signature"][0]), cloudfront_b64decode(query["Policy"][0]),
                      padding.PKCS1v15(), hashes.SHA1())  # fmt: skip
