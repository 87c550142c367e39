"""``GET /api/v1/datasets``: what the caller may export, and every choice a request can make.

Datasets the caller holds a grant on (``export_permissions``), each with its columns (name, label, type,
the filter operators the type accepts); the formats with their options (type, default, description, allowed
values); the compressions; and the PDF templates a request may name (shipped, and the deployment's).
``export_choices`` is what both this route and the desk's New export form offer, so they cannot disagree.
"""

from __future__ import annotations

import os
import typing
from enum import Enum
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from pydantic import StrictBool, StrictInt

from export_pipelines.datasets.catalog import ColumnSpec, load_catalog
from export_pipelines.errors import PermissionDenied
from export_pipelines.formats import renderer_class
from export_pipelines.reports.template import SHIPPED_DIR
from export_pipelines.reports.template_files import TEMPLATE_DIR_ENV
from export_pipelines.reports.template_owners import owner_refusal
from export_pipelines.request.model import COMPRESSIONS, FILTER_OPS, FORMATS, FormatOptions
from export_pipelines.request.permissions import granted_tenants
from export_pipelines.run.resources import SourceDatabaseResource
from export_pipelines.service.api.identity import Caller, caller
from export_pipelines.service.api.problems import GuardedRoute

router = APIRouter(tags=["datasets"], route_class=GuardedRoute)
_TEXT_ONLY = ("contains", "startswith")
_DATES_ONLY = ("within",)


@router.get("/datasets", summary="Datasets the caller may export, their columns, the formats and templates")
def datasets(request: Request, who: Caller = Depends(caller)) -> dict:
    return export_choices(who)


def export_choices(who: Caller) -> dict:
    """Every choice a request of ``who`` can make: the datasets they hold a grant on, formats, templates."""
    catalog = load_catalog()
    shown = []
    with SourceDatabaseResource().connect() as connection:
        for spec in catalog.datasets.values():
            try:
                granted_tenants(connection, catalog, who.user, spec.name)
            except PermissionDenied:
                continue
            columns = [_column(column) for column in spec.columns.values()]
            shown.append({"name": spec.name, "title": spec.title, "columns": columns})
    return {"datasets": shown, "formats": [_format(name) for name in FORMATS], "compressions": list(COMPRESSIONS),
            "templates": _templates(who)}  # fmt: skip


def operators(column: ColumnSpec) -> list[str]:
    """The filter operators a column of this type accepts (request/query/check.py refuses the others)."""
    return [op for op in FILTER_OPS if (op not in _TEXT_ONLY or column.type == "string")
            and (op not in _DATES_ONLY or column.type in ("date", "timestamp"))]  # fmt: skip


def _column(column: ColumnSpec) -> dict:
    return {"name": column.name, "label": column.label, "type": column.type, "operators": operators(column),
            "searchable": column.searchable}  # fmt: skip


def _format(name: str) -> dict:
    renderer = renderer_class(name)
    options = []
    for option, (default, description) in sorted(renderer.options.items()):
        entry = {"name": option, "type": option_type(option),
                 "default": default if isinstance(default, (str, int, float, bool)) else None,
                 "description": description}  # fmt: skip
        allowed = _allowed(option)
        options.append({**entry, "allowed": allowed} if allowed else entry)
    return {"name": name, "media_type": renderer.media_type, "extension": renderer.extension, "options": options}


def option_type(option: str) -> str:
    """``boolean``, ``integer`` or ``string`` (an option with allowed values is a string too)."""
    field = FormatOptions.model_fields.get(option)
    kinds = typing.get_args(field.annotation) if field else ()
    return "boolean" if StrictBool in kinds else "integer" if StrictInt in kinds else "string"


def _allowed(option: str) -> list | None:
    field = FormatOptions.model_fields.get(option)
    for kind in typing.get_args(field.annotation) if field else ():
        if isinstance(kind, type) and issubclass(kind, Enum):
            return [member.value for member in kind]
    return None


def _templates(who: Caller) -> list[str]:
    """The templates the caller may name: shipped, the deployment's, their own and their teams' (not others')."""
    folders = [SHIPPED_DIR, *([Path(os.environ[TEMPLATE_DIR_ENV])] if os.environ.get(TEMPLATE_DIR_ENV) else [])]
    names = {path.relative_to(folder).with_suffix("").as_posix() for folder in folders if folder.is_dir()
             for path in folder.rglob("*.y*ml") if not any(part.startswith(".") for part in path.parts)}  # fmt: skip
    return sorted(name for name in names if owner_refusal(name, who.user, who.teams) is None)
