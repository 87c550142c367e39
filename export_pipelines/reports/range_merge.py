"""Joining page ranges rendered apart into one PDF, and writing in the counts only the whole knows.

Each range is a complete PDF of its pages whose "Page N of M" and row-count forms say 0; qpdf (via
pikepdf) copies the ranges' pages into the first range's file, and each count form's one text
operator is rewritten with the real number. Streams are copied as they are, neither decoded nor
recompressed (reportlab deflated them already): about 0.13 ms a page here, against 1 ms with
qpdf's defaults.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import pikepdf

# The forms ``page.Furniture`` defines for deferred numbers: reportlab registers them as FormXob.rpt_<name>_<n>.
_COUNT_FORMS = {"/FormXob.rpt_pages_": "pages", "/FormXob.rpt_rows_": "rows"}
_PLACEHOLDER = b"(0) Tj"


def merge_ranges(parts: list[Path], output: BinaryIO, pages: int, rows: int) -> None:
    """Write the pages of ``parts``, in order, to ``output`` as one PDF with the report's counts filled in."""
    values = {"pages": str(pages).encode(), "rows": f"{rows:,}".encode()}
    with pikepdf.open(parts[0]) as merged:
        sources = [pikepdf.open(part) for part in parts[1:]]
        try:
            for source in sources:
                merged.pages.extend(source.pages)
            _fill_counts(merged, values)
            with tempfile.TemporaryFile() as spool:  # qpdf seeks while writing; the output may not
                merged.save(
                    spool,
                    stream_decode_level=pikepdf.StreamDecodeLevel.none,
                    compress_streams=False,
                    object_stream_mode=pikepdf.ObjectStreamMode.disable,
                )
                spool.seek(0)
                shutil.copyfileobj(spool, output, 1 << 20)
        finally:
            for source in sources:
                source.close()


def _fill_counts(pdf: pikepdf.Pdf, values: dict[str, bytes]) -> None:
    done: set[tuple[int, int]] = set()
    for page in pdf.pages:
        forms = page.obj.get("/Resources", {}).get("/XObject", {})
        for name, form in forms.items():
            kind = next((kind for prefix, kind in _COUNT_FORMS.items() if name.startswith(prefix)), None)
            if kind is None or form.objgen in done:
                continue
            done.add(form.objgen)
            content = form.read_bytes()
            if content.count(_PLACEHOLDER) != 1:
                raise ValueError(f"count form {name} has no single placeholder to fill")
            form.write(content.replace(_PLACEHOLDER, b"(" + values[kind] + b") Tj"))
