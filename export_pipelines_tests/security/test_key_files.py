"""Key files read once per version and created once: the rules the keyset and the link signing keys share."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from export_pipelines.security.key_files import ParsedKeyFiles, create_once
from export_pipelines.security.private_files import write_private


class FileError(Exception):
    pass


def test_parsed_once_per_version_and_per_variant(tmp_path):
    path = tmp_path / "keys.json"
    write_private(path, "one")
    files: ParsedKeyFiles[list[str]] = ParsedKeyFiles("key file", FileError)
    parses = []

    def parse(text):
        parses.append(text)
        return [text]

    first = files.load(path, parse)
    assert files.load(path, parse) is first and parses == ["one"]
    assert files.load(path, parse, variant="wrapped") is not first and parses == ["one", "one"]
    write_private(path, "two")  # a rotation by another process: a new inode
    assert files.load(path, parse) == ["two"]


def test_errors_name_the_file_never_its_text(tmp_path):
    files: ParsedKeyFiles[str] = ParsedKeyFiles("key file", FileError)
    with pytest.raises(FileError, match=r"^the key file .*missing\.json does not exist$"):
        files.load(tmp_path / "missing.json", str)
    path = tmp_path / "binary.json"
    path.write_bytes(b"secret \xff")
    with pytest.raises(FileError, match="cannot be read") as error:
        files.load(path, str)
    assert "secret" not in str(error.value)


def test_a_parse_error_is_not_cached(tmp_path):
    path = tmp_path / "keys.json"
    write_private(path, "bad")
    files: ParsedKeyFiles[str] = ParsedKeyFiles("key file", FileError)

    def parse(text):
        raise FileError(f"{path} is malformed")

    for _ in range(2):
        with pytest.raises(FileError, match="malformed"):
            files.load(path, parse)


def test_created_once_by_exactly_one_of_racing_writers(tmp_path):
    path = tmp_path / "keys" / "default.json"
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda n: create_once(path, lambda: f"writer {n}"), range(8)))
    assert created.count(True) == 1
    assert path.read_text() == f"writer {created.index(True)}"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert not create_once(path, lambda: "later")
