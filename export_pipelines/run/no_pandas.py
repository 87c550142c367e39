"""Keeping pyarrow from importing pandas in a process that converts Python values but never uses pandas.

pyarrow imports pandas (~0.4 s, more on a busy machine) the first time it converts Python values
(``pa.array`` of a list), only to ask whether they are pandas objects; nothing in an export is. When
that first probe finds pandas missing, pyarrow remembers it and asks no more; a later real use of
pandas through pyarrow (``to_pandas``) still imports it then, since pyarrow tries again for those.
"""

from __future__ import annotations

import sys
import threading


def skip_pandas_probe() -> None:
    """Let pyarrow's first probe find no pandas; a no-op once pandas is imported.

    Safe with other threads running: only the calling thread is told that pandas is missing, and
    only for the moment of the probe; an ``import pandas`` elsewhere in the process meanwhile works.
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _NoPandas(threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])  # the probe: pyarrow records that pandas is not there
    finally:
        sys.meta_path.remove(finder)


class _NoPandas:
    """An import finder that says pandas is not installed, to one thread."""

    def __init__(self, thread: int):
        self.thread = thread

    def find_spec(self, name, path=None, target=None):
        if (name == "pandas" or name.startswith("pandas.")) and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
