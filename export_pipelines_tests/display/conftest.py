"""The report tests' template folder fixture, reused by the display rule tests of PDF templates."""

from export_pipelines_tests.reports.conftest import template_dir  # noqa: F401 (a fixture)
