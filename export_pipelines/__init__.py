"""export_pipelines: filtered, permission-aware data exports, one Dagster run per export."""

__version__ = "0.1.0"
