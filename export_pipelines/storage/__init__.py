"""Where files go: a Storage interface chosen by URL scheme, and its backends."""

from export_pipelines.storage.base import FileAttributes, ListedFile, Storage, StoredFile, storage_from_url

__all__ = ["FileAttributes", "ListedFile", "Storage", "StoredFile", "storage_from_url"]
