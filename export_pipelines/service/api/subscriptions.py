"""``/api/v1/subscriptions``: the caller's recurring exports, in the ``export_subscriptions`` table.

A subscription's body has the fields of one in ``subscriptions.example.yaml`` (``name``, ``request``,
``cron``, ``timezone``, ``recipients``, ``window``, ``window_column``, ``paused``, ``skip_if_empty``) without
``owner``: the caller owns it; a listed one also has ``next_run``. It is checked when it is created or edited,
not at its first tick: its request (as a tick would make it, window included) against the catalog and the
limits, and the owner's grants on its dataset; a problem is a 422 naming the field (``request.columns[0]``,
``cron``). ``POST .../{name}/run`` sends it now:
the run of a tick at this moment, submitted through the gate like any API export (tagged with the
subscription's name; the sensor's own windows are unaffected). Names are unique in the table: another
owner's name answers 409 on create and 404 everywhere else. The table is created by
``export-pipelines subscriptions init`` (503 until then). The routes call the service-level functions
below (``caller_subscriptions``, ``create``, ``edit``, ``delete``, ``send_now``), as the desk's pages do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ConfigDict, Field, ValidationError, create_model

from export_pipelines.automation.subscription_schedules import run_request_for_tick
from export_pipelines.automation.subscription_sensor import SUBMITTED_VIA, next_tick
from export_pipelines.automation.subscription_table import (
    StoredSubscription,
    SubscriptionError,
    SubscriptionTable,
    validated,
)
from export_pipelines.automation.subscriptions import Subscription
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError, PermissionDenied
from export_pipelines.request.model import request_from_run_config
from export_pipelines.request.permissions import granted_tenants
from export_pipelines.request.validation import check_request
from export_pipelines.run.resources import SourceDatabaseResource
from export_pipelines.service.api.identity import Caller, caller
from export_pipelines.service.api.models import Export
from export_pipelines.service.api.problems import GuardedRoute, Problem, from_pydantic
from export_pipelines.service.api.submit import submit_checked

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"], route_class=GuardedRoute)
_FIELDS = {name: field for name, field in Subscription.model_fields.items() if name != "owner"}


# A subscription without its owner (the caller), and the same fields all optional for a PATCH.
_OPTIONAL = {
    name: (field.annotation | None, Field(None, description=field.description)) for name, field in _FIELDS.items()
}
SubscriptionBody = create_model(
    "SubscriptionBody",
    __config__=ConfigDict(extra="forbid"),
    **{name: (f.annotation, f) for name, f in _FIELDS.items()},
)
SubscriptionChanges = create_model("SubscriptionChanges", __config__=ConfigDict(extra="forbid"), **_OPTIONAL)


@router.get("", summary="The caller's subscriptions")
def list_subscriptions(request: Request, who: Caller = Depends(caller)) -> dict:
    return {"items": caller_subscriptions(who)}


@router.post("", status_code=201, summary="Create a subscription, checked against the catalog and the grants")
def create_subscription(body: SubscriptionBody, who: Caller = Depends(caller)) -> dict:
    return create(who, body.model_dump(exclude_unset=True))


@router.patch("/{name}", summary="Change fields of a subscription; checked again as a whole")
def edit_subscription(name: str, body: SubscriptionChanges, who: Caller = Depends(caller)) -> dict:
    return edit(who, name, body.model_dump(exclude_unset=True))


@router.delete("/{name}", status_code=204, summary="Delete a subscription (its exports stay)")
def delete_subscription(name: str, who: Caller = Depends(caller)) -> Response:
    delete(who, name)
    return Response(status_code=204)


@router.post(
    "/{name}/run", status_code=202, response_model=Export, summary="Send it now: the export of a tick at this moment"
)
def run_subscription(name: str, request: Request, response: Response, who: Caller = Depends(caller)) -> dict:
    status, view = send_now(request.app.state.service, who, name)
    response.status_code = status
    response.headers["Location"] = view["status_url"]
    return view


# The service-level functions: the API's routes above and the desk's pages call these, so the two agree.


def caller_subscriptions(who: Caller) -> list[dict]:
    """The caller's subscriptions, name order, each with ``next_run``: its next tick (None while paused)."""
    stored, _ = _table().load()
    now = datetime.now(UTC)
    return [{**_view(entry.subscription), "next_run": _next_run(entry, now)} for entry in stored
            if entry.subscription.owner == who.user]  # fmt: skip


def create(who: Caller, fields: dict[str, Any]) -> dict:
    """Add the caller's subscription of ``fields`` (a body's, without owner): 422 naming a bad field, 409 a taken
    name."""
    subscription = _checked({**fields, "owner": who.user})
    try:
        _table().add(subscription)
    except SubscriptionError as error:
        if error.field != "name":  # a field the table cannot hold yet (see subscription_table)
            raise _invalid(error.field, str(error).split(": ", 2)[-1], error.allowed) from None
        raise Problem(409, "name_taken", f"{error}: choose another name") from None
    who.note("created subscription", subscription.name)
    return _view(subscription)


def edit(who: Caller, name: str, changes: dict[str, Any]) -> dict:
    """Change fields of the caller's subscription ``name``; the result is checked as a whole (422), 404 if not
    theirs."""
    current = _own(name, who)
    subscription = _checked({**current.model_dump(), **changes, "owner": who.user})
    try:
        _table().update(name, {**changes, "owner": who.user})
    except SubscriptionError as error:
        raise _invalid(error.field, str(error).split(": ", 2)[-1], error.allowed) from None
    who.note("edited subscription", name)
    return _view(subscription)


def delete(who: Caller, name: str) -> None:
    _own(name, who)
    _table().remove(name)
    who.note("deleted subscription", name)


def send_now(service, who: Caller, name: str) -> tuple[int, dict]:
    """Submit the run of a tick at this moment through the gate, tagged with the subscription; (status, view)."""
    subscription = _checked(_own(name, who).model_dump())
    tick = datetime.now(UTC).replace(microsecond=0)
    run_request = run_request_for_tick(subscription, tick, service.instance, SUBMITTED_VIA)
    export = request_from_run_config(run_request.run_config)
    extra = {key: value for key, value in run_request.tags.items() if key not in export.run_tags()}
    status, view = submit_checked(service, who, export, extra)
    who.note("sent subscription now", name)
    return status, view


def _checked(fields: dict[str, Any]) -> Subscription:
    """The subscription of ``fields``, its request checked as its ticks will be; a 422 naming the field."""
    try:
        subscription = validated(fields)
        tick = datetime.now(UTC)
        window = (tick, tick) if subscription.window else None  # the window's filters are checked with the rest
        request = subscription.export_request(window, tick)
        checked = check_request(request, load_catalog())
    except SubscriptionError as error:
        raise _invalid(error.field, str(error).split(": ", 2)[-1], error.allowed) from None
    except ValidationError as error:
        raise from_pydantic(error.errors()) from None
    except ExportRequestError as error:
        field = (
            "window_column" if error.field.startswith("filters[") and subscription.window else f"request.{error.field}"
        )
        raise _invalid(field, error.problem, error.allowed) from None
    window_column = checked.dataset.columns[subscription.window_column] if subscription.window else None
    if window_column is not None and window_column.type not in ("date", "timestamp"):
        raise _invalid("window_column", f"{window_column.name!r} is a {window_column.type} column",
                       "a date or timestamp column of the dataset")  # fmt: skip
    try:
        with SourceDatabaseResource().connect() as connection:
            granted_tenants(connection, load_catalog(), subscription.owner, request.dataset)
    except PermissionDenied as error:
        raise _invalid("request.dataset", str(error), "a dataset GET /api/v1/datasets lists") from None
    return subscription


def _invalid(field: str, detail: str, allowed: str | None) -> Problem:
    entry = {"field": field, "detail": detail, **({"allowed": allowed} if allowed else {})}
    return Problem(422, "invalid_subscription", f"the subscription is not valid ({field}): fix it and send it again",
                   [entry])  # fmt: skip


def _own(name: str, who: Caller) -> Subscription:
    stored, _ = _table().load()
    for entry in stored:
        if entry.subscription.name == name and entry.subscription.owner == who.user:
            return entry.subscription
    raise Problem(404, "not_found", f"you have no subscription {name!r}: list yours with GET /api/v1/subscriptions")


def _table() -> SubscriptionTable:
    from export_pipelines.settings import default_source_url

    table = SubscriptionTable(default_source_url())
    if not table.exists():
        raise Problem(503, "not_configured", "this deployment has no subscriptions table yet: its operator runs "
                      "`export-pipelines subscriptions init`")  # fmt: skip
    return table


def _view(subscription: Subscription) -> dict:
    return subscription.model_dump(exclude={"owner"})


def _next_run(entry: StoredSubscription, now: datetime) -> str | None:
    """The next tick the sensor runs: the first cron time after now (or after a later ``ticks_after``)."""
    if entry.subscription.paused:
        return None
    moment = next_tick(entry.subscription, max(entry.ticks_after, now, key=datetime.timestamp))
    return moment.isoformat() if moment is not None else None
