"""``/api/v1/templates``: the PDF report templates of the caller and of their teams, and a preview of any template.

A user's templates are YAML files in ``$EXPORT_REPORT_TEMPLATE_DIR/users/<user>/<name>.yaml``, a team's in
``teams/<team>/<name>.yaml`` (503 while the deployment sets no template folder), so a request names one as
every template is named, by its path below the folder: ``format_options.template: users/analyst/monthly`` or
``teams/finance/monthly``. The caller's teams are the roles ``team:<name>`` of their token; ``?team=<name>``
on PUT and DELETE (and ``team`` in a preview) means that team's folder, for members only (403 otherwise), and
only members may name a team's template in a request. A template is the JSON form of the template file
(``title``, ``page``, ``fonts``, ``colours``, ``header``, ``footer``, ``columns``, ``totals``,
``totals_label``), checked by the same schema as files (``reports.template_fields``) before it is saved; a
problem is a 422 naming the field (``page.size``). Logo and font paths must stay in the template's folder.
``POST /templates/preview`` renders up to 500 sample orders (the demo generator's, no database) with a
template given in the body: the PDF itself. The functions behind the routes are ``template_store``'s.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from export_pipelines.service.api import template_store
from export_pipelines.service.api.identity import Caller, caller
from export_pipelines.service.api.problems import GuardedRoute
from export_pipelines.service.api.template_store import MAX_PREVIEW_ROWS

router = APIRouter(prefix="/templates", tags=["templates"], route_class=GuardedRoute)
TeamQuery = Query(None, description="A team of the caller (role team:<name>): its template, not the caller's own.")
PDF_HEADERS = {"Cache-Control": "private, no-store", "Content-Disposition": 'inline; filename="preview.pdf"'}


class Preview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: dict[str, Any] = Field(default_factory=dict, description="The template's fields, as in a file.")
    rows: int = Field(50, ge=0, le=MAX_PREVIEW_ROWS, description="Sample orders to render.")
    timezone: str = Field("UTC", description="Time zone of the sample timestamps.")
    team: str | None = Field(None, description="Read the logo from this team's folder, not the caller's own.")


@router.get("", summary="The caller's and their teams' templates, and how a request names each")
def list_templates(who: Caller = Depends(caller)) -> dict:
    return {"items": template_store.caller_templates(who)}


@router.put("/{name}", summary="Save a template under a name (checked like a template file)")
def save_template(name: str, response: Response, document: dict[str, Any] = Body(...), team: str | None = TeamQuery,
                  who: Caller = Depends(caller)) -> dict:  # fmt: skip
    response.status_code, saved = template_store.save_template(who, name, document, team)
    return saved


@router.delete("/{name}", status_code=204, summary="Delete a template")
def delete_template(name: str, team: str | None = TeamQuery, who: Caller = Depends(caller)) -> Response:
    template_store.delete_template(who, name, team)
    return Response(status_code=204)


@router.post("/preview", summary="A PDF of sample orders rendered with the template in the body",
             response_class=Response, responses={200: {"content": {"application/pdf": {}}}})  # fmt: skip
def preview(body: Preview, who: Caller = Depends(caller)) -> Response:
    pdf = template_store.render_preview(who, body.template, body.rows, body.timezone, body.team)
    return Response(pdf, media_type="application/pdf", headers=PDF_HEADERS)
