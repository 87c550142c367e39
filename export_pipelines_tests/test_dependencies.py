"""The Dagster family must move together: a mismatched install fails here, not at a user's import."""

from __future__ import annotations

import importlib
import re
import tomllib
from importlib.metadata import distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

INTEGRATIONS = ["dagster_webserver", "dagster_graphql", "dagster_postgres", "dagster_celery", "dagster_aws"]


@pytest.mark.parametrize("module", INTEGRATIONS)
def test_every_integration_imports(module):
    assert importlib.import_module(module).__version__


def test_dagster_family_versions_match():
    core = version("dagster")
    minor = int(core.split(".")[1])
    patch = core.split(".")[2]
    assert version("dagster-webserver") == version("dagster-graphql") == core
    # Integration libraries are versioned 0.(minor+16).patch against dagster 1.minor.patch.
    for library in ("dagster-postgres", "dagster-celery", "dagster-aws"):
        assert version(library) == f"0.{minor + 16}.{patch}", library


def test_code_location_loads_the_export_job():
    from export_pipelines.definitions import defs

    job = defs.resolve_job_def("export_job")
    assert [node.name for node in job.nodes_in_topological_order] == [
        "validate_request", "skip_empty_export", "collect_chunks", "transform_chunk", "render_file", "upload_file",
        "notify_recipients",
    ]  # fmt: skip


PROJECT = Path(__file__).resolve().parents[1]
_LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def locked_versions(lock_text: str) -> dict[str, str]:
    """name -> version of every package pinned in a requirements.lock (names normalized as the index does)."""
    return {canonicalize_name(name): version for name, version in _LOCKED.findall(lock_text)}


def lock_disagreements(pyproject_text: str, lock_text: str) -> list[str]:
    """Direct dependencies (runtime and dev) missing from the lock or locked outside their range."""
    project = tomllib.loads(pyproject_text)["project"]
    direct = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = locked_versions(lock_text)
    problems = []
    for line in direct:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement.name}: in pyproject.toml, not in requirements.lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{requirement.name}: locked {locked[name]}, pyproject.toml asks {requirement.specifier}")
    return problems


def test_the_lock_satisfies_every_range_of_pyproject():
    """Neither drifts alone: a range changed without `make lock`, or a lock edited by hand, fails here."""
    problems = lock_disagreements(
        (PROJECT / "pyproject.toml").read_text(), (PROJECT / "requirements.lock").read_text()
    )
    assert problems == [], "run `make lock` (see README, Dependencies):\n" + "\n".join(problems)


def test_a_drifted_lock_is_reported_by_name():
    pyproject = (
        '[project]\ndependencies = ["sentry-sdk>=2,<3", "Foo_Bar>=1"]\n[project.optional-dependencies]\ndev = []\n'
    )
    lock = "sentry-sdk==3.0.0 \\\n    --hash=sha256:00\nfoo-bar==1.2 \\\n    --hash=sha256:11\n"

    assert lock_disagreements(pyproject, lock) == ["sentry-sdk: locked 3.0.0, pyproject.toml asks <3,>=2"]
    missing = ["sentry-sdk: in pyproject.toml, not in requirements.lock"]
    assert lock_disagreements(pyproject, "foo-bar==1.2\n") == missing


def test_this_environment_holds_exactly_the_locked_versions():
    """What make installed is what the lock says (a stale venv or a hand-installed upgrade fails here)."""
    locked = locked_versions((PROJECT / "requirements.lock").read_text())
    installed = {canonicalize_name(dist.metadata["Name"]): Version(dist.version) for dist in distributions()}
    wrong = {name: (v, installed.get(name)) for name, v in locked.items() if installed.get(name) != Version(v)}
    assert wrong == {}, "locked version, installed version: run `make .venv/bin/.installed`"
