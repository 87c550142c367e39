"""The command's help describes every subcommand and option, and --version answers."""

import argparse
import subprocess
import sys
from importlib.metadata import version

from export_pipelines.cli import _parser


def _undescribed(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not helps.get(name):
                    missing.append(" ".join((*path, name)))
                missing += _undescribed(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(" ".join((*path, *(action.option_strings or [action.dest]))))
    return missing


def test_every_subcommand_and_option_has_help():
    assert _undescribed(_parser()) == []


def test_version_names_this_package_and_dagster():
    done = subprocess.run([sys.executable, "-m", "export_pipelines.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"export-pipelines {version('export-pipelines')} (dagster {version('dagster')})"
