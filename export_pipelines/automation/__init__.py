"""What starts exports and what they pass first: the submission gate (run coordinator) and its checks."""
