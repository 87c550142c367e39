"""The template builder: the signed-in user's and their teams' PDF templates, built in a form with a live preview.

``GET /templates`` lists them (with how a request names each), with edit and delete. ``/templates/new`` and
``/templates/<scope>/<name>/edit`` (scope ``mine`` or ``team-<team>``) show the form: title and subtitle, page
size and orientation, column rows (label, width, alignment, number format, summed or not), header and footer
texts, a logo upload. Saving checks the template with the schema every template file passes (through
``service.api.template_store``, as ``PUT /api/v1/templates/<name>`` does), and a problem is shown next to its
field. ``template_builder.js`` posts the form as JSON to ``POST /templates/preview`` whenever a field changes
and shows the PDF it gets; without a script, the form's Preview button returns the PDF.
"""

from __future__ import annotations

from functools import partial

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from export_pipelines.reports.logo_files import MAX_LOGO_BYTES
from export_pipelines.reports.template_owners import NAME, NAME_HELP
from export_pipelines.service.api import template_store
from export_pipelines.service.api.problems import Problem
from export_pipelines.service.api.templates import PDF_HEADERS
from export_pipelines.service.desk.guard import refused, signed_in
from export_pipelines.service.desk.render import page
from export_pipelines.service.desk.template_form import document_from_form, fields_problem, form_values, values_again

MINE, TEAM = "mine", "team-"
NOTICES = {"saved": "The template was saved.", "deleted": "The template was deleted."}


def scope_of(team: str | None) -> str:
    return f"{TEAM}{team}" if team else MINE


def team_of(scope: str) -> str | None:
    """The team a URL's or form's scope names; None for the user's own ("mine"); a 404 for anything else."""
    if scope == MINE:
        return None
    if scope.startswith(TEAM) and NAME.match(scope[len(TEAM) :]):
        return scope[len(TEAM) :]
    raise Problem(404, "not_found", f"{scope!r} is not a place for templates: yours are under /templates/{MINE}/")


class TemplateBuilder:
    """The template pages of one DownloadService."""

    def __init__(self, service):
        self.service = service

    def routes(self) -> list[Route]:
        guarded = partial(signed_in, self.service)
        return [
            Route("/templates", guarded(self.list), methods=["GET"]),
            Route("/templates/new", guarded(self.new), methods=["GET", "POST"]),
            Route("/templates/preview", guarded(self.preview), methods=["POST"]),
            Route("/templates/{scope}/{name}/edit", guarded(self.edit), methods=["GET", "POST"]),
            Route("/templates/{scope}/{name}/delete", guarded(self.delete), methods=["POST"]),
        ]

    def list(self, request: Request, session, form) -> Response:
        try:
            items = template_store.caller_templates(session.caller)
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        for item in items:
            item["path"] = f"/templates/{scope_of(item.get('team'))}/{item['name']}"
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return page(request, "templates.html", session, title="Templates", current="templates", items=items,
                    notice=notice)  # fmt: skip

    def new(self, request: Request, session, form) -> Response:
        if form is None:
            return self._form(request, session, form_values({}), None, None)
        return self._submit(request, session, form, None, None)

    def edit(self, request: Request, session, form) -> Response:
        name = request.path_params["name"]
        try:
            team = team_of(request.path_params["scope"])
            document = template_store.read_template(session.caller, name, team)
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        if form is None:
            return self._form(request, session, form_values(document), name, team)
        return self._submit(request, session, form, name, team)

    def delete(self, request: Request, session, form) -> Response:
        try:
            team = team_of(request.path_params["scope"])
            template_store.delete_template(session.caller, request.path_params["name"], team)
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        return RedirectResponse("/templates?notice=deleted", status_code=303)

    def preview(self, request: Request, session, form) -> Response:
        """The script's preview: the form's fields as JSON in, the PDF out (or the errors by field, 422)."""
        document, errors, rows = document_from_form(form)
        try:
            if errors:
                raise Problem(422, "invalid_template", "the template is not valid: fix the fields shown")
            pdf = template_store.render_preview(session.caller, document, team=_form_team(form, None))
        except Problem as problem:
            errors = errors or fields_problem(problem.errors, rows, document["totals"])
            return JSONResponse({"detail": problem.detail, "errors": errors}, status_code=problem.status)
        return Response(pdf, media_type="application/pdf", headers=PDF_HEADERS)

    def _submit(self, request: Request, session, form, name: str | None, team: str | None) -> Response:
        """Save the form as a template (or, for the Preview button, answer with its PDF); errors by field."""
        document, errors, rows = document_from_form(form)
        editing, name = name, name or _text(form.get("name"))
        if editing is None:
            try:
                team = _form_team(form, None)
            except Problem as problem:
                errors["scope"] = problem.detail
        previewing = form.get("action") == "preview"
        if not NAME.match(name) and not previewing:
            errors["name"] = f"{name!r} is not a template name (allowed: {NAME_HELP})"
        if not errors:
            try:
                if previewing:
                    pdf = template_store.render_preview(session.caller, document, team=team)
                    return Response(pdf, media_type="application/pdf", headers=PDF_HEADERS)
                upload = form.get("logo_file")
                if isinstance(upload, UploadFile) and upload.filename:
                    # The template first, with the logo it had: a refused template must not cost its old logo.
                    template_store.parse(document, template_store.template_folder(session.caller, team))
                    data = upload.file.read(MAX_LOGO_BYTES + 1)
                    document["logo"] = template_store.save_logo(session.caller, name, data, team)
                template_store.save_template(session.caller, name, document, team)
                return RedirectResponse("/templates?notice=saved", status_code=303)
            except Problem as problem:
                errors = fields_problem(problem.errors, rows, document["totals"]) or {"form": problem.detail}
        values = {**values_again(form), "name": name, "scope": scope_of(team)}
        return self._form(request, session, values, editing, team, errors, status=422)

    def _form(self, request, session, values, name, team, errors=None, status=200) -> Response:
        values.setdefault("name", name or "")
        values.setdefault("scope", scope_of(team))
        teams = sorted(session.caller.teams)
        action = f"/templates/{scope_of(team)}/{name}/edit" if name else "/templates/new"
        title = f"Edit template {name}" if name else "New template"
        return page(request, "template_builder.html", session, status_code=status, title=title, current="templates",
                    values=values, errors=errors or {}, editing=name, scope=scope_of(team), teams=teams,
                    action=action, max_logo_kib=MAX_LOGO_BYTES // 1024, column_names=_sample_columns())  # fmt: skip


def _form_team(form, default: str | None) -> str | None:
    scope = _text(form.get("scope"))
    return team_of(scope) if scope else default


def _sample_columns() -> list[str]:
    """The columns of the preview's sample orders, offered as the column rows' names."""
    from export_pipelines.reports.preview import orders_columns

    return [column.name for column in orders_columns()]


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""
