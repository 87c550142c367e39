"""One run of export_job: the job and its ops, resources, step outputs, staging, hooks, which failures are
retried, and launching a run from the command line."""
