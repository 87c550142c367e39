"""The templates of a caller and of their teams: where they are kept, who may change them, and their preview.

The API's ``/templates`` routes and the desk's template builder both call these functions, so the two
cannot disagree. A user's templates are ``$EXPORT_REPORT_TEMPLATE_DIR/users/<user>/<name>.yaml``, a team's
``teams/<team>/<name>.yaml``; a request names them by that path (``users/analyst/monthly``,
``teams/finance/monthly``). Members of a team (token role ``team:<name>``) read, save and delete its templates;
anyone else gets 403. Every template is checked by the template schema (``reports.template_fields``) before
it is saved; a problem is a 422 naming the field (``page.size``). A logo is uploaded into the same folder,
checked by its bytes (``reports.logo_files``), and named by the template's ``logo`` field.
"""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from export_pipelines.reports.logo_files import LogoRefused, logo_extension
from export_pipelines.reports.template import TemplateError
from export_pipelines.reports.template_fields import parse_template
from export_pipelines.reports.template_files import TEMPLATE_DIR_ENV
from export_pipelines.reports.template_owners import NAME, NAME_HELP, TEAMS, USERS, template_root
from export_pipelines.security.private_files import FILE_MODE, make_private_folder, write_private
from export_pipelines.service.api.identity import Caller
from export_pipelines.service.api.problems import Problem

MAX_PREVIEW_ROWS = 500
_FIELD = re.compile(r"^[a-z_]+(\[\d+\])?(\.[A-Za-z0-9_]+(\[\d+\])?)*$")


def template_folder(who: Caller, team: str | None = None) -> Path:
    """The caller's folder, or ``team``'s when the caller is a member (403 otherwise, 503 with no folder)."""
    root = template_root()
    if root is None:
        raise Problem(503, "not_configured", f"this deployment keeps no templates of its users: its operator sets "
                      f"{TEMPLATE_DIR_ENV} to a folder")  # fmt: skip
    if team is None:
        if not who.user.strip("."):  # "." and ".." are user names the token may carry, never a folder to use
            raise Problem(403, "forbidden", "this user name cannot keep templates: ask the application's administrator")
        return root / USERS / who.user
    if not NAME.match(team) or team not in who.teams:
        raise Problem(403, "forbidden", f"you are not a member of the team {team!r}: your teams are "
                      f"{', '.join(sorted(who.teams)) or 'none'} (the application's roles team:<name>)")  # fmt: skip
    return root / TEAMS / team


def reference(who: Caller, name: str, team: str | None = None) -> str:
    """How a request names the template (``format_options.template``)."""
    return f"{TEAMS}/{team}/{name}" if team else f"{USERS}/{who.user}/{name}"


def item(who: Caller, name: str, team: str | None = None) -> dict:
    scope = {"scope": "team", "team": team} if team else {"scope": "user"}
    return {"name": name, **scope, "template": reference(who, name, team)}


def caller_templates(who: Caller) -> list[dict]:
    """The caller's own templates, then each of their teams', by name."""
    items = []
    for team in (None, *sorted(who.teams)):
        folder = template_folder(who, team)
        names = sorted(path.stem for path in folder.glob("*.yaml") if NAME.match(path.stem)) if folder.is_dir() else []
        items.extend(item(who, name, team) for name in names)
    return items


def read_template(who: Caller, name: str, team: str | None = None) -> dict:
    """The saved document of a template, as it was sent (404 when there is none)."""
    path = _existing(who, name, team)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return document if isinstance(document, dict) else {}


def save_template(who: Caller, name: str, document: dict[str, Any], team: str | None = None) -> tuple[int, dict]:
    """(201 new or 200 replaced, the item): ``document`` checked by the template schema, then written."""
    if not NAME.match(name):
        raise invalid("name", "is not a template name", NAME_HELP)
    folder = template_folder(who, team)
    parse(document, folder)
    path = folder / f"{name}.yaml"
    status = 200 if path.exists() else 201
    write_private(path, yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    who.note("saved template", reference(who, name, team))
    return status, item(who, name, team)


def delete_template(who: Caller, name: str, team: str | None = None) -> None:
    path = _existing(who, name, team)
    document = read_template(who, name, team)
    path.unlink()
    logo = document.get("logo")
    if isinstance(logo, str) and logo == logo_name(name, logo.rsplit(".", 1)[-1]):  # the builder's upload: ours
        (path.parent / logo).unlink(missing_ok=True)
    who.note("deleted template", reference(who, name, team))


def logo_name(template: str, extension: str) -> str:
    return f"{template}-logo.{extension}"


def save_logo(who: Caller, name: str, data: bytes, team: str | None = None) -> str:
    """Store an uploaded logo for the template ``name``; its file name, for the template's ``logo`` field."""
    if not NAME.match(name):
        raise invalid("name", "is not a template name", NAME_HELP)
    try:
        extension = logo_extension(data)
    except LogoRefused as refusal:
        raise invalid("logo", str(refusal), "a PNG or JPEG file") from None
    folder = template_folder(who, team)
    file_name = logo_name(name, extension)
    for other in ("png", "jpg"):  # one logo per template: a new upload replaces the old, whatever its type
        (folder / logo_name(name, other)).unlink(missing_ok=True)
    make_private_folder(folder)
    temporary = folder / f".{file_name}-{secrets.token_hex(8)}.tmp"
    temporary.write_bytes(data)
    temporary.chmod(FILE_MODE)
    temporary.replace(folder / file_name)
    return file_name


def render_preview(who: Caller, document: dict[str, Any], rows: int = 50, timezone: str = "UTC",
                   team: str | None = None) -> bytes:  # fmt: skip
    """A PDF of ``rows`` sample orders (the demo generator's, no database) drawn with the template ``document``."""
    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.reports.document import PdfReport, report_facts
    from export_pipelines.reports.preview import SAMPLE_FILTERS, orders_columns, sample_tables

    template = parse(document, template_folder(who, team))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        allowed = "IANA names such as Europe/Berlin"
        raise invalid("timezone", f"{timezone!r} is not a known time zone", allowed) from None
    columns = orders_columns()
    try:
        template.check_columns(columns)
    except TemplateError as error:
        raise from_template_error(error) from None
    facts = report_facts(f"{load_catalog().dataset('orders').title} (template preview)", timezone,
                         export_id="preview", filters=SAMPLE_FILTERS, user=who.user)  # fmt: skip
    stream = io.BytesIO()
    report = PdfReport(stream, template, columns, facts)
    for table in sample_tables(min(max(rows, 0), MAX_PREVIEW_ROWS), timezone):
        report.add(table)
    report.close()
    return stream.getvalue()


def parse(document: dict[str, Any], folder: Path):
    """The checked template; its logo and fonts must stay in ``folder``."""
    try:
        return parse_template(document, "api", folder, folder)
    except TemplateError as error:
        raise from_template_error(error) from None


def from_template_error(error: TemplateError) -> Problem:
    field, _, detail = str(error).partition(": ")
    if not _FIELD.match(field):
        field, detail = "template", str(error)
    return invalid(field, detail, None)


def invalid(field: str, detail: str, allowed: str | None) -> Problem:
    entry = {"field": field, "detail": detail, **({"allowed": allowed} if allowed else {})}
    return Problem(422, "invalid_template", f"the template is not valid ({field}): fix it and send it again", [entry])


def _existing(who: Caller, name: str, team: str | None) -> Path:
    path = template_folder(who, team) / f"{name}.yaml"
    if not NAME.match(name) or not path.is_file():
        whose = f"the team {team!r} has" if team else "you have"
        raise Problem(404, "not_found", f"{whose} no template {name!r}: list them with GET /api/v1/templates")
    return path
