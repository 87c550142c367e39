"""The export-pipelines command as a user runs it: a real process, real files, real run history."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from export_pipelines.cli import parse_filter

CLI = str(Path(sys.executable).with_name("export-pipelines"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A data folder with 800 seeded orders and its own Dagster home."""
    root = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "EXPORT_DATA_DIR": str(root / "var"), "DAGSTER_HOME": str(root / "home")}
    for name in ("EXPORT_SOURCE_DB_URL", "EXPORT_STORAGE_URL", "SMTP_HOST"):
        env.pop(name, None)
    (root / "home").mkdir()
    seeded = subprocess.run([CLI, "seed-demo", "--rows", "800"], env=env, capture_output=True, text=True)
    assert seeded.returncode == 0, seeded.stderr
    assert "800 orders" in seeded.stdout
    return env


def cli(env, *args):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def test_export_json_output_describes_the_file(workspace):
    done = cli(
        workspace, "export", "--user", "analyst", "--dataset", "orders", "--format", "csv",
        "--columns", "order_id,amount", "--filter", "amount ge 10", "--sort", "amount:desc", "--json",
        "--out", str(workspace["EXPORT_DATA_DIR"] + "/copy.csv"),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "SUCCESS" and result["run_id"]
    assert Path(result["file"]).read_bytes()[:9] != b"Order ID,", "the stored file is encrypted"
    with open(result["saved_to"], newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Order ID", "Amount"]
    amounts = [float(amount) for _, amount in rows[1:]]
    assert amounts == sorted(amounts, reverse=True) and min(amounts) >= 10
    assert result["rows"] == len(rows) - 1 and result["rows_withheld"] is True and "skipped_rows" not in result
    assert result["bytes"] == Path(result["saved_to"]).stat().st_size and len(result["sha256"]) == 64


def test_failed_export_exits_non_zero_with_the_reason(workspace):
    done = cli(workspace, "export", "--user", "admin", "--dataset", "orders", "--filter", "amount gt lots")

    assert done.returncode == 1
    assert "filters[0].value" in done.stderr and "decimal" in done.stderr
    assert "Traceback" not in done.stderr


def test_request_file_and_options_override_it(workspace, tmp_path):
    request = tmp_path / "request.yaml"
    request.write_text("user: admin\ndataset: customers\nformat: json\ncolumns: [customer_id, name]\n")

    done = cli(workspace, "export", "--request", str(request), "--format", "jsonl", "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    fetched = cli(workspace, "download", result["run_id"], "--out", str(tmp_path / "customers.jsonl"))
    assert fetched.returncode == 0, fetched.stderr
    lines = (tmp_path / "customers.jsonl").read_text(encoding="utf-8").splitlines()
    assert set(json.loads(lines[0])) == {"customer_id", "name"} and len(lines) == result["rows"]
    assert result["sha256"] in fetched.stdout


def test_audit_lists_exports_with_outcome_and_filters_by_user(workspace, tmp_path):
    # A Dagster home of its own: the history holds this test's two runs and nothing another test left.
    env = {**workspace, "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    allowed = json.loads(cli(env, "export", "--user", "analyst", "--dataset", "orders", "--json").stdout)
    refused = json.loads(cli(env, "export", "--user", "auditor", "--dataset", "orders", "--json").stdout)

    everyone = json.loads(cli(env, "audit", "--json").stdout)
    auditor = json.loads(cli(env, "audit", "--user", "auditor", "--json").stdout)
    future = json.loads(cli(env, "audit", "--since", "2999-01-01", "--json").stdout)
    table = cli(env, "audit").stdout.splitlines()

    assert sorted((r["run_id"], r["user"], r["status"]) for r in everyone) == sorted(
        [(allowed["run_id"], "analyst", "SUCCESS"), (refused["run_id"], "auditor", "FAILURE")]
    )
    assert [r["run_id"] for r in auditor] == [refused["run_id"]] and "PermissionDenied" in auditor[0]["error"]
    assert future == []
    assert len(table) == 3, table  # the header and one line per export
    assert any("analyst" in line and "SUCCESS" in line for line in table[1:]), table
    assert any("auditor" in line and "FAILURE" in line for line in table[1:]), table
    # Where each file is: the path export printed, in the table and the JSON; a refused export has none.
    (stored,) = [r for r in everyone if r["run_id"] == allowed["run_id"]]
    assert stored["location"] == stored["file"] == allowed["file"] and Path(allowed["file"]).is_file()
    assert auditor[0]["location"] is None and auditor[0]["file"] is None
    assert any(line.endswith(f"  {allowed['file']}") and "analyst" in line for line in table[1:]), table
    assert "location" not in allowed  # the requester's view names the file only in "file"


def test_missing_user_is_a_clear_usage_error(workspace):
    done = cli(workspace, "export", "--dataset", "orders")

    assert done.returncode == 2 and "--user is required" in done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount gt 100", {"column": "amount", "op": "gt", "value": "100"}),
        ("note is_null", {"column": "note", "op": "is_null", "value": None}),
        ("customer_name contains O'Connor AB", {"column": "customer_name", "op": "contains", "value": "O'Connor AB"}),
    ],
)
def test_filter_text_is_split_into_column_op_value(text, expected):
    assert parse_filter(text) == expected


def test_a_misspelt_request_field_is_named_on_one_line_and_nothing_runs(workspace, tmp_path):
    request = tmp_path / "request.yaml"
    request.write_text("user: admin\ndataset: orders\nformt: pdf\n")  # would have been a CSV export

    done = cli(workspace, "export", "--request", str(request), "--option", "header_style=bold")

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "export-pipelines export: format_options.header_style: Input should be 'label' or 'name'; "
        "formt: is not a known field"
    ]


def test_export_on_a_terminal_draws_a_progress_bar_and_ends_with_the_link(workspace):
    """stderr is a real terminal (a pseudo-terminal): the bar is drawn on one line, ends full, and the
    summary names the download link. Piped, as in the other tests, nothing of the bar is printed."""
    import pty

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [CLI, "export", "--user", "admin", "--dataset", "orders", "--format", "jsonl", "--chunk-size", "100"],
        env=workspace, stdout=subprocess.PIPE, stderr=terminal, text=True,
    )  # fmt: skip
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the command closed the terminal: it has ended
            break
        if not chunk:
            break
        drawn += chunk
    stdout, _ = process.communicate(timeout=300)
    os.close(controller)

    assert process.returncode == 0, drawn.decode(errors="replace")
    text = drawn.decode().replace("\r\n", "\n")  # a terminal writes a newline as \r\n
    bars = [part.rstrip() for line in text.split("\n") for part in line.split("\r") if part.startswith("[")]
    assert bars and bars[-1].startswith("[" + "#" * 30 + "] 100%  800 of 800 rows") and bars[-1].endswith("done"), text
    assert "Download link: http" in stdout and "Exported 800 rows" in stdout
    piped = cli(workspace, "export", "--user", "admin", "--dataset", "orders", "--format", "jsonl", "--title", "piped")
    assert piped.returncode == 0 and "[" not in piped.stderr, piped.stderr
