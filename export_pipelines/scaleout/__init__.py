"""Running steps on more than one machine: executors, the Celery app and its settings, the code version
every worker must match, and queue depth."""
