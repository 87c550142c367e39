"""The code version covers the whole package, wherever code_version.py sits in it."""

import importlib.util
import shutil
from pathlib import Path

import export_pipelines


def _version_of_copy(package: Path, monkeypatch) -> str:
    monkeypatch.delenv("EXPORT_CODE_VERSION", raising=False)
    spec = importlib.util.spec_from_file_location("code_version_copy", package / "observability" / "code_version.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.code_version()


def test_a_change_in_any_folder_changes_the_code_version(tmp_path, monkeypatch):
    package = tmp_path / "export_pipelines"
    shutil.copytree(Path(export_pipelines.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = _version_of_copy(package, monkeypatch)
    with (package / "request" / "model.py").open("a") as model:
        model.write("\n# changed\n")
    after_model = _version_of_copy(package, monkeypatch)
    assert after_model != before
    with (package / "definitions.py").open("a") as definitions:
        definitions.write("\n# changed\n")
    assert _version_of_copy(package, monkeypatch) not in (before, after_model)
