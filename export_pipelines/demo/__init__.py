"""A demo database whose values are built to break naive exporters, and the command that seeds it."""
