"""Run logs as JSON lines for log shippers: ``EXPORT_LOG_FORMAT=json``.

``export_console_logger`` is the jobs' ``console`` logger (same config: ``log_level``, ``name``). By
default it is Dagster's colored console logger; with ``EXPORT_LOG_FORMAT=json`` (read when the run
starts, in the process that runs it) every line it writes to stderr is one JSON object::

    {"time": "2026-01-31T03:00:00.123Z", "level": "INFO", "run_id": "...", "job": "export_job",
     "step": "collect_chunks", "event": "STEP_START", "logger": "dagster", "message": "..."}

``run_id`` is on every line a run writes: Dagster's own events, what ops log through
``context.log``, and what export_pipelines' modules log through Python's ``logging`` while a run is
going on (the instance routes those to the run's loggers: ``python_logs.managed_python_loggers`` in
dagster.yaml). Run tags are never written (a request token is one), and neither is anything
Dagster does not already show in the run's log.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import coloredlogs
from dagster import Field, InitLoggerContext, logger
from dagster._core.utils import coerce_valid_log_level
from dagster._loggers import colored_console_logger

LOG_FORMAT_ENV = "EXPORT_LOG_FORMAT"
LOG_FORMATS = ("text", "json")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, on one line; the run's facts from Dagster's record metadata."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        moment = datetime.fromtimestamp(record.created, UTC)
        line = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "run_id": meta.get("run_id"),
            "job": meta.get("job_name"),
            "step": meta.get("step_key"),
            "event": event.event_type_value if event is not None else None,
            "logger": record.name,
            "message": meta.get("orig_message", record.getMessage()),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_format() -> str:
    """``$EXPORT_LOG_FORMAT``: text (the default) or json."""
    chosen = os.environ.get(LOG_FORMAT_ENV, "").strip().lower() or "text"
    if chosen not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV}={chosen!r} must be one of {', '.join(LOG_FORMATS)}")
    return chosen


@logger(
    Field(
        {
            "log_level": Field(str, is_required=False, default_value="INFO", description="The logger's threshold."),
            "name": Field(str, is_required=False, default_value="dagster", description="The logger's name."),
        },
        description="The console logger: colored text, or JSON lines with EXPORT_LOG_FORMAT=json.",
    ),
    description="The console logger: colored text, or JSON lines with EXPORT_LOG_FORMAT=json.",
)
def export_console_logger(init_context: InitLoggerContext) -> logging.Logger:
    """Dagster's console logger, writing JSON lines to stderr when ``EXPORT_LOG_FORMAT=json``."""
    if log_format() != "json":
        return colored_console_logger.logger_fn(init_context)
    config = init_context.logger_config
    console = logging.getLoggerClass()(config["name"], level=coerce_valid_log_level(config["log_level"]))
    handler = coloredlogs.StandardErrorHandler()  # whatever sys.stderr is when a line is written
    handler.setFormatter(JsonLineFormatter())
    console.addHandler(handler)
    return console
