"""Fixtures the display rule tests reuse: the report tests' template folder, the source tests' seeded rows."""

from export_pipelines_tests.reports.conftest import template_dir  # noqa: F401 (a fixture)
from export_pipelines_tests.source.conftest import _plain_rows, source  # noqa: F401 (fixtures)
