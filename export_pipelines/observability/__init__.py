"""What happened and how it went: error tracking and metrics, the log format, and run history (audit)."""
