"""The steps of an export: validate, collect, transform, render, upload, notify."""
