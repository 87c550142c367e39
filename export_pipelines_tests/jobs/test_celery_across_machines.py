"""One export over three "machines" that share nothing on disk: a launcher and two Celery workers.

Each machine has its own Dagster home, data folder, temporary folder, working directory and copy of the
keyset, and
each worker runs in a mount namespace of its own where the other machines' folders are covered by
an empty read-only file system: a worker that tried to read or write the launcher's files would
fail. What they share is what a deployment shares: Redis (broker), PostgreSQL (Dagster instance
and source data) and the bucket (staged chunks, step outputs and the file, all encrypted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ed25519
from dagster import DagsterInstance

from export_pipelines.automation.admission import TAG_SUBMITTED_VIA
from export_pipelines.automation.launch import run_export
from export_pipelines.automation.typed_tags import TAG_REQUEST_TOKEN
from export_pipelines.demo.seed import seed_demo
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.observability.code_version import code_version
from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines.security.keyset import Keyset
from export_pipelines.security.keyset_store import save_keyset
from export_pipelines.security.signing_keys import SigningKeys, save_signing_keys
from export_pipelines_tests.automation.conftest import Application
from export_pipelines_tests.automation.dagster_dev import DagsterDev
from export_pipelines_tests.exported import decrypted_copy
from export_pipelines_tests.jobs.celery_workers import PROJECT, start_workers, step_hosts
from export_pipelines_tests.s3_server import use_s3_server
from export_pipelines_tests.services import unavailable

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

ROWS = 200_000
REQUEST = dict(user="admin", dataset="orders", format="csv", chunk_size=20_000)  # 10 chunks
# Run a command with the given folders covered by an empty read-only tmpfs (in a private mount namespace).
HIDE_AND_RUN = 'for folder in $HIDE; do mount -t tmpfs -o ro,mode=000 none "$folder" || exit 97; done; exec "$@"'


def instance_config(postgres_url: str) -> str:
    """The deployment's dagster.yaml, with step logs kept nowhere (a deployment would ship them to S3)."""
    config = yaml.safe_load((PROJECT / "deploy" / "dagster.yaml").read_text())
    config["storage"] = {"postgres": {"postgres_url": postgres_url}}
    config["compute_logs"] = {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
    return yaml.safe_dump(config)


def make_machine(root: Path, name: str, config: str, keyset: Keyset, admission_keys: SigningKeys) -> dict:
    """A machine's own folders, keyset and admission key copies; returns the environment variables that point
    at them."""
    machine = root / name
    for folder in (machine, machine / "home", machine / "var", machine / "cwd", machine / "tmp"):
        folder.mkdir(mode=0o700)
    (machine / "home" / "dagster.yaml").write_text(config)
    save_keyset(keyset, machine / "keys" / "keyset.json")
    save_signing_keys(admission_keys, machine / "keys" / "admission_keys.json")
    return {
        "HOME": str(machine),
        "DAGSTER_HOME": str(machine / "home"),
        "EXPORT_DATA_DIR": str(machine / "var"),
        "EXPORT_ENCRYPTION_KEYSET": str(machine / "keys" / "keyset.json"),
        "EXPORT_ADMISSION_KEYS": str(machine / "keys" / "admission_keys.json"),
        "MACHINE_CWD": str(machine / "cwd"),
        "TMPDIR": str(machine / "tmp"),  # not the system's /tmp, which another machine would not see
    }


@pytest.fixture(scope="module")
def source_200k(postgres_database):
    url = postgres_database("machines")
    seed_demo(url, rows=ROWS)
    return url


@pytest.fixture(scope="module")
def machines(tmp_path_factory, source_200k, postgres_database, redis_server, s3_server):
    """Two worker machines on Celery, started once for the module, and this process as the launcher machine."""
    root = tmp_path_factory.mktemp("machines")
    (root / "deployment").mkdir(mode=0o700)  # the webserver and daemon's machine, for the test that starts them
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", HIDE_AND_RUN, "sh", "true"],
        env={"HIDE": str(root)}, capture_output=True, text=True,
    )  # fmt: skip
    if not shutil.which("unshare") or probe.returncode != 0:
        unavailable("mount namespaces", f"unshare --mount could not hide a folder: {probe.stderr.strip()}")
    with pytest.MonkeyPatch.context() as patch:
        s3_env = use_s3_server(s3_server, patch, root)
        bucket = s3_env.create_bucket("machines")
        shared = {
            "EXPORT_SOURCE_DB_URL": source_200k,
            "EXPORT_STORAGE_URL": f"s3://{bucket}/exports",
            "EXPORT_S3_ENDPOINT_URL": s3_env.endpoint_url,
            "DAGSTER_POSTGRES_URL": postgres_database("machines_dagster").replace(
                "postgresql+psycopg://", "postgresql://"
            ),
            "EXPORT_CELERY_BROKER_URL": redis_server.url(5),
            "EXPORT_CELERY_BACKEND_URL": redis_server.url(6),
            "EXPORT_CODE_VERSION": "release-under-test",
            "EXPORT_MAX_CONCURRENT_RUNS": "20",
            # Chunks of the request's 20,000 rows, the server's CSV included: steps for both machines.
            "EXPORT_SERVER_CHUNK_ROWS": "1",
        }
        config = instance_config(shared["DAGSTER_POSTGRES_URL"])
        keyset, admission_keys = Keyset.generate(), SigningKeys.generate()
        launcher = make_machine(root, "launcher", config, keyset, admission_keys)
        workers_env = {name: make_machine(root, name, config, keyset, admission_keys) for name in ("w1", "w2")}
        for name, value in {**shared, **launcher}.items():
            if name != "TMPDIR":  # the launcher is this process, whose temporary folder is already chosen
                patch.setenv(name, value)
        code_version.cache_clear()  # the launcher's code version comes from EXPORT_CODE_VERSION, as the workers'
        patch.chdir(launcher["MACHINE_CWD"])
        base = {k: v for k, v in os.environ.items() if not k.startswith(("EXPORT_", "DAGSTER_"))}
        workers = []
        try:
            for name, own in workers_env.items():
                others = [str(root / other) for other in ("launcher", "w1", "w2", "deployment") if other != name]
                workers += start_workers(
                    {**base, **shared, **own, "HIDE": " ".join(others)}, [name], root / name,
                    shared["EXPORT_CELERY_BROKER_URL"], cwd=Path(own["MACHINE_CWD"]),
                    prefix=("unshare", "--mount", "--propagation", "private", "sh", "-c", HIDE_AND_RUN, "sh"),
                )  # fmt: skip
            yield {
                "root": root, "workers": workers_env, "launcher": launcher, "shared": shared, "config": config,
                "bucket": bucket, "admission_keys": launcher["EXPORT_ADMISSION_KEYS"],
            }  # fmt: skip
        finally:
            for worker in workers:
                worker.stop()
            code_version.cache_clear()


def test_an_export_spans_two_worker_machines_that_share_nothing_on_disk(machines, tmp_path):
    instance = DagsterInstance.get()
    request = ExportRequest(**REQUEST)

    record, location = run_export(request, instance, executor="celery", executor_config={"worker_wait_seconds": 60})

    assert record.status == "SUCCESS", record.error
    assert record.rows == ROWS and location.startswith(f"s3://{machines['bucket']}/exports/")
    hosts = step_hosts(instance, record.run_id)
    assert {host.split("@")[0] for host in hosts.values()} == {"w1", "w2"}, hosts
    embedded, _ = run_export(request, instance)
    assert embedded.status == "SUCCESS", embedded.error
    exported, in_process = decrypted_copy(record.file_key, tmp_path), decrypted_copy(embedded.file_key, tmp_path)
    assert Path(exported).read_bytes() == Path(in_process).read_bytes()
    assert record.sha256 == embedded.sha256
    for own in machines["workers"].values():
        left = [p for p in Path(own["EXPORT_DATA_DIR"]).rglob("*")]
        assert left == [], f"a worker kept data on its own disk: {left}"


def test_the_deployments_webserver_and_daemon_apart_run_a_submitted_export_on_the_workers(machines, tmp_path):
    """README's multi-machine deployment: deploy/dagster.yaml on PostgreSQL, dagster-webserver and dagster-daemon
    as two processes on their machine, a request submitted through GraphQL with the application's token,
    dequeued and launched by the daemon, its steps run by the Celery workers of the other machines."""
    application = Application(ed25519.Ed25519PrivateKey.generate())
    deployment = machines["root"] / "deployment"
    (deployment / "request-token.pub.pem").write_bytes(application.public_pem)
    own = {key: value for key, value in machines["launcher"].items() if key not in ("DAGSTER_HOME", "HOME")}
    env = {**machines["shared"], **own, "EXPORT_REQUEST_TOKEN_PUBLIC_KEY": str(deployment / "request-token.pub.pem")}
    deployed = yaml.safe_load(machines["config"])
    dev = DagsterDev(deployment, env, lambda config: (config.clear(), config.update(deployed)), daemon_apart=True)
    request = ExportRequest(**REQUEST, title="through the deployment")  # not a repeat of the other test's export
    run_config = {**request.run_config(), "execution": {"config": {"celery": {"worker_wait_seconds": 60}}}}
    dev.start()
    try:
        run_id = dev.client.submit_job_execution(
            "export_job", run_config=run_config, tags={TAG_REQUEST_TOKEN: application.token(request)},
            repository_location_name="export_pipelines", repository_name="__repository__",
        )  # fmt: skip
        assert dev.wait_for_run(run_id, {"SUCCESS", "FAILURE", "CANCELED"}, seconds=300) == "SUCCESS"
    finally:
        dev.stop()

    instance = DagsterInstance.get()  # the launcher machine's home: the same PostgreSQL instance
    run = instance.get_run_by_id(run_id)
    assert run.tags[TAG_SUBMITTED_VIA] == "webserver" and run.tags[TAG_USER] == request.user
    hosts = step_hosts(instance, run_id)
    assert {host.split("@")[0] for host in hosts.values()} <= {"w1", "w2"} and len(hosts) > 3, hosts
    record = audit_record_for_run(instance, run_id)
    assert record.rows == ROWS and record.file_key.startswith("files/")
    embedded, _ = run_export(request, instance)
    assert record.sha256 == embedded.sha256
