"""The desk: the pages where the application's users ask for, watch, manage and fetch their exports.

Server-rendered (Jinja2 templates in ``templates/``), a little plain JavaScript for the live parts
(``static/``), no build step. Every page needs a signed-in user (``session``: the application's hand-over,
or the embedded default's development sign-in); every form carries a CSRF secret; the Content-Security-Policy
allows the service's own stylesheet and scripts and nothing inline (``render``). Each page does what the
API's endpoint of the same resource does, by calling the same function (``service.api``), so the pages and
the API cannot disagree. Routes: ``/signin``, ``/signout``, ``/exports`` (My exports), and the pages of
the modules below.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from export_pipelines.service.desk.my_exports import MyExports
from export_pipelines.service.desk.new_export import NewExport
from export_pipelines.service.desk.render import STATIC_PREFIX
from export_pipelines.service.desk.signin import SignIn
from export_pipelines.service.desk.subscriptions import SubscriptionPages
from export_pipelines.service.desk.template_builder import TemplateBuilder

STATIC_DIR = Path(__file__).parent / "static"


def desk_routes(service) -> list[BaseRoute]:
    """The pages' routes for one DownloadService; fixed paths (``/exports/new``) before ``/exports/{id}``."""
    return [
        *SignIn(service).routes(),
        *NewExport(service).routes(),
        *MyExports(service).routes(),
        *TemplateBuilder(service).routes(),
        *SubscriptionPages(service).routes(),
        Mount(STATIC_PREFIX, app=StaticFiles(directory=STATIC_DIR), name="desk-static"),
    ]
