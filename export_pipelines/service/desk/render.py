"""Pages from Jinja2 templates, with the headers every page of the desk carries.

Autoescaping is on for every template (datasets, titles, filters and errors are text people typed), and an
undefined variable is an error, not an empty string. The pages load only the service's own stylesheet and
scripts (``/static/desk/``): the Content-Security-Policy allows nothing else, no inline script or style,
and forms post only to this origin. Referrer-Policy ``same-origin`` keeps the Origin header on the pages'
own POSTs (``session.check_form`` compares it) while sending nothing to another site.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from export_pipelines.service.desk.session import CSRF_FIELD, Session

STATIC_PREFIX = "/static/desk"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
        "frame-src 'self' blob:; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "private, no-store",
}
NAVIGATION = (
    ("exports", "/exports", "My exports"),
    ("new", "/exports/new", "New export"),
    ("subscriptions", "/subscriptions", "Subscriptions"),
    ("templates", "/templates", "Templates"),
)

_environment = Environment(
    loader=PackageLoader("export_pipelines.service.desk", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.globals.update(static=STATIC_PREFIX, navigation=NAVIGATION, csrf_field=CSRF_FIELD)


def page(
    request: Request, template: str, session: Session | None, csrf: str | None = None, status_code: int = 200, **context
) -> HTMLResponse:
    """``template`` rendered for ``session``'s user; ``csrf`` is the form secret (the session's by default)."""
    body = _environment.get_template(template).render(
        request=request, session=session, csrf=csrf or (session.csrf if session else ""), **context
    )
    return HTMLResponse(body, status_code=status_code, headers=HEADERS)
