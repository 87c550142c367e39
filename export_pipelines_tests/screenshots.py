"""Screenshots of the pages, taken by the Chromium tests as they go: the README shows them to end users.

``make screenshots`` runs the browser tests with ``EXPORT_SCREENSHOTS_DIR=docs/screenshots``, so the pictures
the README links are the pages as the tests last saw them. Without it a screenshot goes to a folder of the
test session's own, so an ordinary test run never touches the repository.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SCREENSHOTS_DIR = "EXPORT_SCREENSHOTS_DIR"
WIDTH, HEIGHT = 1100, 760  # wide enough for the navigation on one line, as on a laptop
_folder: list[str] = []  # this test session's own folder, made at its first screenshot


def save_screenshot(driver, name: str) -> Path:
    """``name``.png of what ``driver`` shows now, at a laptop's size (then the window's size again)."""
    folder = Path(os.environ.get(SCREENSHOTS_DIR) or _session_folder())
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    size = driver.get_window_size()
    driver.set_window_size(WIDTH, HEIGHT)
    try:
        driver.save_screenshot(str(target))
    finally:
        driver.set_window_size(size["width"], size["height"])
    return target


def _session_folder() -> str:
    if not _folder:
        _folder.append(tempfile.mkdtemp(prefix="export-screenshots-"))
    return _folder[0]
