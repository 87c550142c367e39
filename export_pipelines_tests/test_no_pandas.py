"""pyarrow converts Python values without importing pandas after skip_pandas_probe, and still uses it when asked."""

from __future__ import annotations

import subprocess
import sys

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
