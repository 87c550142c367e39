"""The renderer's workbooks read back exactly as the XlsxWriter renderer's did (golden files), case by case."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import zipfile

import pytest

from export_pipelines_tests.formats.xlsx_golden import cases, golden_path, reading, render_case

CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_workbook_reads_back_as_the_golden_one(name):
    data = render_case(CASES[name])

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None, "every member's CRC and size check out"
    expected, found = reading(golden_path(name).read_bytes()), reading(data)
    assert found["properties"] == expected["properties"] and found["custom"] == expected["custom"]
    assert found["names"] == expected["names"]
    assert len(found["sheets"]) == len(expected["sheets"])
    for got, want in zip(found["sheets"], expected["sheets"]):
        for key in ("title", "freeze", "filter", "dimensions", "max", "widths", "rules", "selected"):
            assert got[key] == want[key], (got["title"], key)
        assert len(got["cells"]) == len(want["cells"])
        for cell, golden in zip(got["cells"], want["cells"]):
            assert cell == golden


def libreoffice_csv(data: bytes, folder) -> list[list[str]]:
    """The first sheet as LibreOffice Calc shows it (formatted values), exported to CSV."""
    source = folder / "book.xlsx"
    source.write_bytes(data)
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir",
         str(folder), str(source)], check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    with open(folder / "book.csv", newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("name", ["demo", "hostile-Asia-Kolkata", "wide"])
def test_libreoffice_shows_what_it_showed_for_the_golden_file(name, tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "old").mkdir()
    found = libreoffice_csv(render_case(CASES[name]), tmp_path / "new")

    assert found == libreoffice_csv(golden_path(name).read_bytes(), tmp_path / "old")
