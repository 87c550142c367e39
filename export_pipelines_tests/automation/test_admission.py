"""The submission checks (``admit``), shared by the gate and the command line, on a real Dagster instance."""

from __future__ import annotations

import time

import jwt
import pytest
from dagster import DagsterRunStatus

from export_pipelines.automation.admission import (
    TAG_REQUEST_DIGEST,
    TAG_REQUEST_JTI,
    TAG_REQUEST_TOKEN,
    TAG_SUBMITTED_VIA,
    VIA_CLI,
    VIA_DAEMON,
    VIA_WEBSERVER,
    GateSettings,
    SubmissionRefused,
    admit,
)
from export_pipelines.errors import SettingsError
from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER, ExportRequest
from export_pipelines.security.request_tokens import AUDIENCE
from export_pipelines_tests.automation.conftest import place_run

REQUEST = ExportRequest(user="analyst", dataset="orders", format="jsonl", columns=["order_id", "amount"])
TRUSTING = GateSettings(trust_unsigned=True)
SIGNED = GateSettings(trust_unsigned=False)


def _refused(instance, run_config, tags=None, via=VIA_WEBSERVER, settings=TRUSTING, **options) -> str:
    with pytest.raises(SubmissionRefused) as refused:
        admit(instance, run_config, tags or {}, via, settings, **options)
    return str(refused.value)


def test_an_admitted_request_gets_the_export_tags_from_the_request(instance):
    admission = admit(instance, REQUEST.run_config(), {}, VIA_WEBSERVER, TRUSTING)

    assert admission.request == REQUEST and admission.duplicate_of is None
    assert admission.tags == {
        TAG_USER: "analyst", TAG_DATASET: "orders", TAG_FORMAT: "jsonl",
        TAG_REQUEST_DIGEST: REQUEST.digest(), TAG_SUBMITTED_VIA: "webserver",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "config", "setting"),
    [
        ("source", {"url": "sqlite:////tmp/other.sqlite"}, "EXPORT_SOURCE_DB_URL"),
        ("catalog", {"path": "/tmp/catalog.yaml"}, "EXPORT_CATALOG_PATH"),
        ("storage", {"url": "s3://elsewhere/x"}, "EXPORT_STORAGE_URL"),
        ("limits", {"max_rows": 10**12}, "EXPORT_MAX_ROWS"),
    ],
)
def test_run_config_that_configures_a_resource_is_refused_naming_it(instance, resource, config, setting):
    run_config = {**REQUEST.run_config(), "resources": {resource: {"config": config}}}

    message = _refused(instance, run_config)

    assert f"may not configure resource {resource!r}" in message and setting in message


def test_an_empty_resources_section_is_harmless(instance):
    run_config = {**REQUEST.run_config(), "resources": {"source": {"config": {}}, "storage": {}}}

    assert admit(instance, run_config, {}, VIA_WEBSERVER, TRUSTING).request == REQUEST


def test_run_config_that_sets_the_celery_broker_is_refused(instance):
    run_config = {**REQUEST.run_config(), "execution": {"config": {"celery": {"broker": "redis://evil:6379/0"}}}}

    assert "Celery executor's 'broker'" in _refused(instance, run_config)
    choice = {**REQUEST.run_config(), "execution": {"config": {"celery": {"worker_wait_seconds": 5}}}}
    assert admit(instance, choice, {}, VIA_WEBSERVER, TRUSTING).request == REQUEST


@pytest.mark.parametrize(
    ("run_config", "expected"),
    [
        ({}, "holds no export request: put it under ops.validate_request.config"),
        ({"ops": {"validate_request": {"config": {"user": "analyst"}}}}, "dataset: is required"),
        ({"ops": {"validate_request": {"config": {"user": "a b", "dataset": "orders"}}}}, "'a b' is not a valid user"),
        ({"ops": {"validate_request": {"config": {"user": "analyst", "dataset": "payroll"}}}}, "payroll"),
        (
            {"ops": {"validate_request": {"config": {"user": "analyst", "dataset": "orders", "format": "xml"}}}},
            "format: Input should be 'csv'",
        ),
    ],
)
def test_a_missing_or_invalid_request_is_refused_saying_what_is_wrong(instance, run_config, expected):
    message = _refused(instance, run_config)

    assert message.startswith("export refused: ") and expected in message


def test_the_command_line_leaves_field_checks_to_the_runs_first_step(instance):
    bad = ExportRequest(user="analyst", dataset="payroll")

    admission = admit(instance, bad.run_config(), bad.run_tags(), VIA_CLI, SIGNED, check_fields=False)

    assert admission.tags[TAG_SUBMITTED_VIA] == "cli"


def test_a_tag_that_disagrees_with_the_request_is_refused(instance):
    message = _refused(instance, REQUEST.run_config(), tags={TAG_USER: "admin"})

    assert "export/user='admin' disagrees with the request ('analyst')" in message
    assert admit(instance, REQUEST.run_config(), REQUEST.run_tags(), VIA_WEBSERVER, TRUSTING).request == REQUEST


def test_daemon_submissions_are_trusted_and_named_by_their_schedule(instance):
    admission = admit(instance, REQUEST.run_config(), {"dagster/schedule_name": "nightly"}, VIA_DAEMON, SIGNED)

    assert admission.tags[TAG_SUBMITTED_VIA] == "schedule:nightly"
    assert TAG_REQUEST_JTI not in admission.tags


def test_the_queue_cap_refuses_a_users_next_export_and_not_another_users(instance):
    for _ in range(2):
        place_run(instance, DagsterRunStatus.QUEUED, {TAG_USER: "analyst"})
    place_run(instance, DagsterRunStatus.STARTED, {TAG_USER: "analyst"})  # running, not waiting
    capped = GateSettings(trust_unsigned=True, max_queued_per_user=2)

    message = _refused(instance, REQUEST.run_config(), settings=capped)

    assert "user 'analyst' already has 2 exports waiting" in message and "limit is 2" in message
    other = ExportRequest(user="admin", dataset="orders")
    assert admit(instance, other.run_config(), {}, VIA_WEBSERVER, capped).request == other


# Identity: from the webserver, only a token signed by the application says who asks.


def test_unsigned_webserver_submissions_are_refused_unless_the_deployment_trusts_them(instance, application):
    message = _refused(instance, REQUEST.run_config(), settings=SIGNED)

    assert "only with a request token from the application (run tag export/request_token)" in message


def test_a_valid_token_admits_the_request_and_is_recorded_on_the_run(instance, application):
    run_id = place_run(instance, DagsterRunStatus.NOT_STARTED, {})
    tags = {TAG_REQUEST_TOKEN: application.token(REQUEST)}

    admission = admit(instance, REQUEST.run_config(), tags, VIA_WEBSERVER, SIGNED, run_id=run_id)

    jti = admission.tags[TAG_REQUEST_JTI]
    assert instance.get_run_by_id(run_id).tags[TAG_REQUEST_JTI] == jti


def test_a_p256_application_key_works_too(instance, p256_application, tmp_path, monkeypatch):
    (tmp_path / "p256.pem").write_bytes(p256_application.public_pem)
    monkeypatch.setenv("EXPORT_REQUEST_TOKEN_PUBLIC_KEY", str(tmp_path / "p256.pem"))
    tags = {TAG_REQUEST_TOKEN: p256_application.token(REQUEST)}

    assert admit(instance, REQUEST.run_config(), tags, VIA_WEBSERVER, SIGNED).request == REQUEST


def test_a_token_for_one_request_admits_no_other(instance, application):
    token = application.token(REQUEST)
    wider = ExportRequest(**{**REQUEST.model_dump(), "columns": []})

    message = _refused(instance, wider.run_config(), {TAG_REQUEST_TOKEN: token}, settings=SIGNED)

    assert "signed for another request" in message


def test_a_token_for_another_user_is_refused(instance, application):
    as_admin = ExportRequest(**{**REQUEST.model_dump(), "user": "admin"})
    token = application.token(as_admin, user="analyst")

    message = _refused(instance, as_admin.run_config(), {TAG_REQUEST_TOKEN: token}, settings=SIGNED)

    assert "signed for another user" in message


def test_a_token_admits_one_run_only(instance, application):
    token = application.token(REQUEST)
    first = place_run(instance, DagsterRunStatus.NOT_STARTED, {TAG_REQUEST_TOKEN: token})
    admit(instance, REQUEST.run_config(), {TAG_REQUEST_TOKEN: token}, VIA_WEBSERVER, SIGNED, run_id=first)
    second = place_run(instance, DagsterRunStatus.NOT_STARTED, {TAG_REQUEST_TOKEN: token})

    message = _refused(instance, REQUEST.run_config(), {TAG_REQUEST_TOKEN: token}, settings=SIGNED, run_id=second)

    assert "already used for another run" in message


def test_of_two_runs_racing_with_one_token_only_the_older_is_admitted(instance, application):
    token = application.token(REQUEST)
    older = place_run(instance, DagsterRunStatus.NOT_STARTED, {TAG_REQUEST_TOKEN: token})
    newer = place_run(instance, DagsterRunStatus.NOT_STARTED, {TAG_REQUEST_TOKEN: token})
    tags = {TAG_REQUEST_TOKEN: token}

    # The newer run's webserver gets there first: once the older run is tagged, the older one wins.
    admit(instance, REQUEST.run_config(), tags, VIA_WEBSERVER, SIGNED, run_id=newer)
    admit(instance, REQUEST.run_config(), tags, VIA_WEBSERVER, SIGNED, run_id=older)

    assert "already used" in _refused(instance, REQUEST.run_config(), tags, settings=SIGNED, run_id=newer)


@pytest.mark.parametrize(
    ("forge", "expected"),
    [
        ("expired", "has expired"),
        ("long_lived", "lives longer than 300 s"),
        ("other_key", "not valid"),
        ("hmac_with_public_key", "not valid"),
        ("alg_none", "not valid"),
        ("login_audience", "not valid"),
        ("garbage", "not valid"),
    ],
)
def test_forged_stale_or_misdirected_tokens_are_refused(instance, application, forge, expected):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from export_pipelines_tests.automation.conftest import Application

    valid = application.token(REQUEST)  # to take its claims from
    claims = jwt.decode(valid, options={"verify_signature": False})
    now = int(time.time())
    if forge == "expired":
        token = application.token(REQUEST, now=now - 400)
    elif forge == "long_lived":
        token = application.token(REQUEST, lifetime=3600)
    elif forge == "other_key":
        token = Application(ed25519.Ed25519PrivateKey.generate()).token(REQUEST)
    elif forge == "hmac_with_public_key":
        token = _hs256(claims, application.public_pem)
    elif forge == "alg_none":
        token = jwt.encode(claims, None, algorithm="none")
    elif forge == "login_audience":
        token = jwt.encode({**claims, "aud": "export-pipelines"}, _private(application), algorithm="EdDSA")
    else:
        token = "not.a.token"
    assert claims["aud"] == AUDIENCE

    message = _refused(instance, REQUEST.run_config(), {TAG_REQUEST_TOKEN: token}, settings=SIGNED)

    assert expected in message


def test_a_missing_public_key_is_a_deployment_error_naming_the_setting(instance, application, monkeypatch):
    monkeypatch.delenv("EXPORT_REQUEST_TOKEN_PUBLIC_KEY")

    with pytest.raises(SettingsError, match="EXPORT_REQUEST_TOKEN_PUBLIC_KEY must name"):
        admit(instance, REQUEST.run_config(), {TAG_REQUEST_TOKEN: "x.y.z"}, VIA_WEBSERVER, SIGNED)


# Dedupe: the same export by the same user within the window is not run twice.


def test_the_same_request_within_the_window_names_the_run_to_reuse(instance):
    earlier = place_run(instance, DagsterRunStatus.SUCCESS, {TAG_USER: "analyst", TAG_REQUEST_DIGEST: REQUEST.digest()})

    admission = admit(instance, REQUEST.run_config(), {}, VIA_WEBSERVER, TRUSTING)

    assert admission.duplicate_of == earlier
    assert admit(instance, REQUEST.run_config(), {}, VIA_WEBSERVER, TRUSTING, dedupe=False).duplicate_of is None
    off = GateSettings(trust_unsigned=True, dedupe_window_seconds=0)
    assert admit(instance, REQUEST.run_config(), {}, VIA_WEBSERVER, off).duplicate_of is None


def test_a_failed_run_another_users_run_or_another_request_is_not_reused(instance):
    place_run(instance, DagsterRunStatus.FAILURE, {TAG_USER: "analyst", TAG_REQUEST_DIGEST: REQUEST.digest()})
    place_run(instance, DagsterRunStatus.SUCCESS, {TAG_USER: "admin", TAG_REQUEST_DIGEST: REQUEST.digest()})
    csv = ExportRequest(**{**REQUEST.model_dump(), "format": "csv"})
    place_run(instance, DagsterRunStatus.SUCCESS, {TAG_USER: "analyst", TAG_REQUEST_DIGEST: csv.digest()})

    assert admit(instance, REQUEST.run_config(), {}, VIA_WEBSERVER, TRUSTING).duplicate_of is None


def test_a_request_with_its_defaults_spelled_out_is_the_same_request(instance):
    spelled_out = {"ops": {"validate_request": {"config": REQUEST.model_dump(mode="json")}}}
    place_run(instance, DagsterRunStatus.STARTED, {TAG_USER: "analyst", TAG_REQUEST_DIGEST: REQUEST.digest()})

    assert admit(instance, spelled_out, {}, VIA_WEBSERVER, TRUSTING).duplicate_of is not None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXPORT_MAX_QUEUED_PER_USER", "0"),
        ("EXPORT_MAX_QUEUED_PER_USER", "many"),
        ("EXPORT_DEDUPE_WINDOW_SECONDS", "-1"),
        ("EXPORT_TRUST_UNSIGNED_SUBMISSIONS", "perhaps"),
    ],
)
def test_malformed_gate_settings_are_named(name, value):
    with pytest.raises(SettingsError, match=name):
        GateSettings.from_env({name: value})


def test_gate_settings_defaults_and_the_gate_config_overriding_the_environment():
    assert GateSettings.from_env({}) == GateSettings(False, 50, 300)
    env = {"EXPORT_TRUST_UNSIGNED_SUBMISSIONS": "1", "EXPORT_DEDUPE_WINDOW_SECONDS": "0"}
    assert GateSettings.from_env(env) == GateSettings(True, 50, 0)
    assert GateSettings.from_env(env, trust_unsigned=False).trust_unsigned is False


def _hs256(claims: dict, secret: bytes) -> str:
    """The classic confusion attack: HMAC keyed with the verifier's public key (PyJWT will not sign it)."""
    import base64
    import hashlib
    import hmac
    import json

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    return signing_input + "." + part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def _private(application):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(application.private_pem, password=None)


@pytest.mark.parametrize("tag", ["export/request_id", "export/subscription", "export/request_sha256",
                                 "export/submitted_via", "export/duplicate_of", "export/revoked_at"])
def test_a_tag_only_the_deployment_sets_is_refused_from_the_webserver(instance, tag):
    tags = {**REQUEST.run_tags(), tag: "7"}

    message = _refused(instance, REQUEST.run_config(), tags)

    assert f"run tag {tag} is set by the deployment" in message


def test_a_re_execution_keeps_its_parents_deployment_tags(instance):
    tags = {**REQUEST.run_tags(), "export/request_id": "7", "export/kind": "export"}

    admitted = admit(instance, REQUEST.run_config(), tags, VIA_WEBSERVER, TRUSTING, parent_tags=tags)

    assert admitted.tags[TAG_USER] == "analyst"
    assert "set by the deployment" in _refused(
        instance, REQUEST.run_config(), {**tags, "export/request_id": "8"}, parent_tags=tags
    )


def test_the_daemon_sets_deployment_tags_of_its_own(instance):
    tags = {**REQUEST.run_tags(), "export/request_id": "7", "dagster/sensor_name": "export_request_sensor"}

    assert admit(instance, REQUEST.run_config(), tags, VIA_DAEMON, SIGNED).tags[TAG_USER] == "analyst"
