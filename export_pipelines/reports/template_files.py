"""Finding and reading a template file: by name or relative path, never an arbitrary file of the server.

A request names a template by ``format_options.template``: the name of a shipped template or of
a template in ``$EXPORT_REPORT_TEMPLATE_DIR``, or a path relative to one of those folders
(``finance/monthly`` or ``finance/monthly.yaml``). Requests may not point at arbitrary files of
the server: absolute paths, ``..`` and symbolic links that lead out of the folder are refused,
and so are a template's logo and font paths that leave its folder. Those checks come before the
file is looked for, with the same answer whether it exists or not, so a request cannot probe the
server's files. ``load_template(..., trusted=True)`` lifts all this for a local author.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from export_pipelines.reports.template import SHIPPED_DIR, ReportTemplate, TemplateError
from export_pipelines.reports.template_fields import parse_template

TEMPLATE_DIR_ENV = "EXPORT_REPORT_TEMPLATE_DIR"
_PART = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")  # no hidden files, no "." or ".."
_SUFFIXES = (".yaml", ".yml")
_OUTSIDE = "allowed: a template name, or a path relative to the template folder without '..'"


def load_template(spec: str, trusted: bool = False) -> ReportTemplate:
    """Find, read and check the template ``spec`` (a name or a path); raise TemplateError."""
    path, root = _locate(spec, trusted)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # The problem only, never the offending line: a template path must not leak file contents.
        raise TemplateError(f"{spec!r} is not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError(f"{spec!r} cannot be read: {error}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise TemplateError(f"{spec!r} must be a mapping of template fields")
    return parse_template(document, str(path), path.parent, root)


def _locate(spec: Any, trusted: bool) -> tuple[Path, Path | None]:
    """The template file and the folder its files must stay in (None when trusted)."""
    if not isinstance(spec, str) or not spec.strip():
        raise TemplateError(f"{spec!r} is not a template name or path")
    custom = os.environ.get(TEMPLATE_DIR_ENV)
    roots = [SHIPPED_DIR.resolve()] + ([Path(custom).resolve()] if custom else [])
    if trusted:  # a local author's file, wherever it is (relative to the current folder), else a name
        path = Path(spec).expanduser().resolve()
        if path.suffix.lower() in _SUFFIXES and path.is_file():
            return path, None
        if Path(spec).is_absolute() or spec.startswith("~") or ".." in Path(spec).parts:
            problem = "does not exist" if path.suffix.lower() in _SUFFIXES else "must end in .yaml or .yml"
            raise TemplateError(f"template file {spec!r} {problem}")
    relative = _relative_template_path(spec)
    for root in roots:
        # Containment first, existence second: the answer must not depend on files outside.
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise TemplateError(f"{spec!r} is outside the template folders: a link in it leads out ({_OUTSIDE})")
        if path.is_file():
            return path, None if trusted else root
    shipped = sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))
    raise TemplateError(f"no template named {spec!r} (shipped: {', '.join(shipped)}; "
                        f"more can be added in ${TEMPLATE_DIR_ENV})")


def _relative_template_path(spec: str) -> Path:
    """``spec`` as a path below a template folder, judged on its text alone (no file is touched)."""
    parts = spec.split("/")
    if Path(spec).is_absolute() or spec.startswith("~") or ".." in parts:
        raise TemplateError(f"{spec!r} is outside the template folders ({_OUTSIDE})")
    if any(not _PART.match(part) for part in parts):
        raise TemplateError(f"{spec!r} is not a template name (allowed: letters, digits, _ . - in each name, "
                            "/ between folders, no name starting with a dot)")
    if "." in parts[-1] and not parts[-1].lower().endswith(_SUFFIXES):
        raise TemplateError(f"{spec!r}: a template path must end in .yaml or .yml")
    if not parts[-1].lower().endswith(_SUFFIXES):
        parts[-1] += ".yaml"
    return Path(*parts)

