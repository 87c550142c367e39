"""The query tests' sources are the source tests' own: the seeded demo data on SQLite and PostgreSQL, and every
order read back plainly (``source/conftest.py``)."""

from export_pipelines_tests.source.conftest import _plain_rows, source  # noqa: F401 (fixtures, found by name)
