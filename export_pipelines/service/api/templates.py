"""``/api/v1/templates``: the caller's PDF report templates, and a preview of any template on sample rows.

A user's templates are YAML files in ``$EXPORT_REPORT_TEMPLATE_DIR/users/<user>/<name>.yaml`` (503 while
the deployment sets no template folder), so a request names one as every template is named, by its path
below the folder: ``format_options.template: users/analyst/monthly``. A template is the JSON form of the
template file (``title``, ``page``, ``fonts``, ``colours``, ``header``, ``footer``, ``columns``, ``totals``,
``totals_label``), checked by the same schema as files (``reports.template_fields``) before it is saved;
a problem is a 422 naming the field (``page.size``). Logo and font paths must stay in the user's folder.
``POST /templates/preview`` renders up to 500 sample orders (the demo generator's, no database) with a
template given in the body: the PDF itself.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from export_pipelines.reports.template import TemplateError
from export_pipelines.reports.template_fields import parse_template
from export_pipelines.reports.template_files import TEMPLATE_DIR_ENV
from export_pipelines.security.private_files import write_private
from export_pipelines.service.api.identity import Caller, caller
from export_pipelines.service.api.problems import GuardedRoute, Problem

router = APIRouter(prefix="/templates", tags=["templates"], route_class=GuardedRoute)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FIELD = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$")
MAX_PREVIEW_ROWS = 500


class Preview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: dict[str, Any] = Field(default_factory=dict, description="The template's fields, as in a file.")
    rows: int = Field(50, ge=0, le=MAX_PREVIEW_ROWS, description="Sample orders to render.")
    timezone: str = Field("UTC", description="Time zone of the sample timestamps.")


@router.get("", summary="The caller's templates, and how a request names each")
def list_templates(who: Caller = Depends(caller)) -> dict:
    folder = _folder(who)
    names = sorted(path.stem for path in folder.glob("*.yaml")) if folder.is_dir() else []
    return {"items": [{"name": name, "template": _reference(who, name)} for name in names]}


@router.put("/{name}", summary="Save a template under a name (checked like a template file)")
def save_template(name: str, response: Response, document: dict[str, Any] = Body(...),
                  who: Caller = Depends(caller)) -> dict:  # fmt: skip
    if not _NAME.match(name):
        raise _invalid("name", "is not a template name", "lowercase letters, digits, _ and -, up to 64")
    folder = _folder(who)
    _parse(document, folder)
    path = folder / f"{name}.yaml"
    response.status_code = 200 if path.exists() else 201
    folder.mkdir(parents=True, exist_ok=True)
    write_private(path, yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    who.note("saved template", name)
    return {"name": name, "template": _reference(who, name)}


@router.delete("/{name}", status_code=204, summary="Delete a template")
def delete_template(name: str, who: Caller = Depends(caller)) -> Response:
    path = _folder(who) / f"{name}.yaml"
    if not _NAME.match(name) or not path.is_file():
        raise Problem(404, "not_found", f"you have no template {name!r}: list yours with GET /api/v1/templates")
    path.unlink()
    who.note("deleted template", name)
    return Response(status_code=204)


@router.post("/preview", summary="A PDF of sample orders rendered with the template in the body",
             response_class=Response, responses={200: {"content": {"application/pdf": {}}}})  # fmt: skip
def preview(body: Preview, who: Caller = Depends(caller)) -> Response:
    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.reports.document import PdfReport, report_facts
    from export_pipelines.reports.preview import SAMPLE_FILTERS, orders_columns, sample_tables

    template = _parse(body.template, _folder(who))
    try:
        ZoneInfo(body.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(
            "timezone", f"{body.timezone!r} is not a known time zone", "IANA names such as Europe/Berlin"
        ) from None
    columns = orders_columns()
    try:
        template.check_columns(columns)
    except TemplateError as error:
        raise _from_template_error(error) from None
    facts = report_facts(f"{load_catalog().dataset('orders').title} (template preview)", body.timezone,
                         export_id="preview", filters=SAMPLE_FILTERS, user=who.user)  # fmt: skip
    stream = io.BytesIO()
    report = PdfReport(stream, template, columns, facts)
    for table in sample_tables(body.rows, body.timezone):
        report.add(table)
    report.close()
    headers = {"Cache-Control": "private, no-store", "Content-Disposition": 'inline; filename="preview.pdf"'}
    return Response(stream.getvalue(), media_type="application/pdf", headers=headers)


def _parse(document: dict[str, Any], folder: Path):
    try:
        return parse_template(document, "api", folder, folder)
    except TemplateError as error:
        raise _from_template_error(error) from None


def _from_template_error(error: TemplateError) -> Problem:
    field, _, detail = str(error).partition(": ")
    if not _FIELD.match(field):
        field, detail = "template", str(error)
    return _invalid(field, detail, None)


def _invalid(field: str, detail: str, allowed: str | None) -> Problem:
    entry = {"field": field, "detail": detail, **({"allowed": allowed} if allowed else {})}
    return Problem(422, "invalid_template", f"the template is not valid ({field}): fix it and send it again", [entry])


def _folder(who: Caller) -> Path:
    root = os.environ.get(TEMPLATE_DIR_ENV)
    if not root:
        raise Problem(503, "not_configured", f"this deployment keeps no templates of its users: its operator sets "
                      f"{TEMPLATE_DIR_ENV} to a folder")  # fmt: skip
    if not who.user.strip("."):  # "." and ".." are user names the token may carry, never a folder to use
        raise Problem(403, "forbidden", "this user name cannot keep templates: ask the application's administrator")
    return Path(root) / "users" / who.user


def _reference(who: Caller, name: str) -> str:
    return f"users/{who.user}/{name}"
