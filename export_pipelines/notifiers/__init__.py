"""Telling people an export is ready: a payload object and notifiers that deliver it."""

from export_pipelines.notifiers.base import ExportNotification, Notifier

__all__ = ["ExportNotification", "Notifier"]
