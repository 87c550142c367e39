"""EXPORT_LOG_FORMAT=json: an export's log is JSON lines, every one naming its run.

The export runs through the command line with the project's dagster.yaml, as `make demo` does, so
what is tested is what a log shipper would read from the process's stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from dagster import DagsterInstance

from export_pipelines.observability.log_format import LOG_FORMAT_ENV, log_format
from export_pipelines.request.model import ExportRequest
from export_pipelines.run.jobs import export_job
from export_pipelines_tests.automation.doors import receipt_tags

PROJECT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("export-pipelines"))


@pytest.fixture
def environment(sqlite_url, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "EXPORT_SOURCE_DB_URL": sqlite_url,
           "EXPORT_DATA_DIR": str(tmp_path / "var")}  # fmt: skip
    for name in ("EXPORT_STORAGE_URL", "SMTP_HOST", "EXPORT_CATALOG_PATH", "EXPORT_LINK_SIGNING_KEYS", LOG_FORMAT_ENV):
        env.pop(name, None)
    # A deployment has its link signing keys; without them the command would mint some after the run, and say
    # so outside any run's log.
    keys = subprocess.run([CLI, "link-keys", "generate"], env=env, capture_output=True, text=True, timeout=120)
    assert keys.returncode == 0, keys.stderr
    return env


def _export(env: dict, *options: str) -> subprocess.CompletedProcess:
    command = [CLI, "export", "--user", "admin", "--dataset", "orders", "--json", "--verbose", *options]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_every_line_of_an_export_s_log_is_a_json_object_with_the_run_id(environment):
    done = _export({**environment, LOG_FORMAT_ENV: "json"})

    run_id = json.loads(done.stdout)["run_id"]
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) >= 3
    assert {line["run_id"] for line in lines} == {run_id} and {line["job"] for line in lines} == {"export_job"}
    assert all(set(line) >= {"time", "level", "run_id", "job", "step", "event", "logger", "message"} for line in lines)
    by_step = {(line["step"], line["message"].split(" ")[0]) for line in lines}
    assert ("collect_chunks", "Staged") in by_step and ("notify_recipients", "No") in by_step
    # What a module logs through Python's logging during the run is in it too (here: the keyset's first use).
    (created,) = [line for line in lines if line["message"].startswith("Created a new encryption keyset")]
    assert created["level"] == "WARNING" and created["step"] == "validate_request"
    assert "export/request_sha256" not in done.stderr  # run tags stay out of the log


def test_a_run_config_that_names_no_logger_logs_json_with_every_dagster_event(environment, monkeypatch, capfd):
    """As the launchpad, GraphQL clients and sensors submit runs: the request alone, no loggers section."""
    for name, value in {**environment, LOG_FORMAT_ENV: "json"}.items():
        monkeypatch.setenv(name, value)
    request = ExportRequest(user="admin", dataset="customers")
    with DagsterInstance.get() as instance:
        run_id = str(uuid.uuid4())
        result = export_job.execute_in_process(
            run_config=request.run_config(), instance=instance, run_id=run_id, tags=receipt_tags(run_id, request)
        )

    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert {line["run_id"] for line in lines} == {result.run_id}
    events = [(line["event"], line["step"]) for line in lines]
    assert ("STEP_START", "validate_request") in events and ("STEP_SUCCESS", "upload_file") in events
    assert ("PIPELINE_SUCCESS", None) in events


def test_text_stays_the_default(environment):
    done = _export(environment)

    assert done.stderr.strip() and not done.stderr.lstrip().startswith("{")


def test_an_unknown_log_format_names_the_variable(monkeypatch):
    monkeypatch.setenv(LOG_FORMAT_ENV, "xml")

    with pytest.raises(ValueError, match="EXPORT_LOG_FORMAT='xml' must be one of text, json"):
        log_format()
