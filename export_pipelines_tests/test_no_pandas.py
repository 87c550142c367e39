"""pyarrow converts Python values without importing pandas after skip_pandas_probe, and still uses it when asked."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from export_pipelines.demo.seed import seed_demo
from export_pipelines.run.no_pandas import _NoPandas

CONVERT = """
import datetime, decimal, sys
import pyarrow as pa
{skip}
pa.array([1, None]); pa.array([decimal.Decimal("1.25")]); pa.array([datetime.datetime(2026, 1, 1)])
print("pandas" in sys.modules)
print(type(pa.table({{"a": [1, 2]}}).to_pandas()).__name__)
"""


def _run(skip: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CONVERT.format(skip=skip)], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_converting_python_values_imports_pandas_unless_the_probe_was_skipped():
    assert _run("") == ["True", "DataFrame"]
    skipped = "from export_pipelines.run.no_pandas import skip_pandas_probe\nskip_pandas_probe()"
    assert _run(skipped) == ["False", "DataFrame"]  # to_pandas still works: it imports pandas then


def test_a_process_that_runs_the_export_job_never_imports_pandas():
    """The job's module skips the probe when it is imported: a run's or a step's process, whatever launched it."""
    assert _run("import export_pipelines.run.jobs") == ["False", "DataFrame"]


RUN = """
import sys, uuid
from dagster import DagsterInstance
from export_pipelines.request.model import ExportRequest
from export_pipelines.run.jobs import export_job
from export_pipelines.security.receipts import Receipt, sign_receipt

request = ExportRequest(user="admin", dataset="orders", format=sys.argv[1])
run_id = str(uuid.uuid4())
receipt = Receipt(run_id, request.user, request.dataset, request.digest(), "cli")
result = export_job.execute_in_process(
    run_config=request.run_config(), instance=DagsterInstance.ephemeral(), run_id=run_id,
    tags={**request.run_tags(), **sign_receipt(receipt)},
)
print(result.success, "pandas" in sys.modules)
"""


def test_a_run_does_not_import_pandas(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    seed_demo(url, rows=50)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EXPORT_", "DAGSTER_HOME"))},
        "EXPORT_SOURCE_DB_URL": url,
        "EXPORT_DATA_DIR": str(tmp_path / "data"),
        "EXPORT_STORAGE_URL": str(tmp_path / "exports"),
    }
    for fmt in ("csv", "jsonl"):  # CSV's encoder converts Python values when its module is imported
        done = subprocess.run(
            [sys.executable, "-c", RUN, fmt], capture_output=True, text=True, env=environment, check=True
        )
        assert done.stdout.split()[-2:] == ["True", "False"], done.stderr[-2000:]


def test_the_probe_refuses_pandas_to_its_own_thread_only():
    refused, elsewhere = _NoPandas(threading.get_ident()), _NoPandas(-1)
    with pytest.raises(ModuleNotFoundError):
        refused.find_spec("pandas.core")
    assert elsewhere.find_spec("pandas") is None  # another thread importing pandas meanwhile finds it
    assert refused.find_spec("numpy") is None
