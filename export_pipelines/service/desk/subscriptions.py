"""Subscriptions: the signed-in user's recurring exports; list, create, edit, pause and resume, send now, delete.

Every action calls the function the API's route of the same action calls (``service.api.subscriptions``:
``caller_subscriptions``, ``create``, ``edit``, ``delete``, ``send_now``), so a subscription made here is
checked exactly as one sent to ``/api/v1/subscriptions`` (against the catalog and the owner's grants, when
it is saved, not at its first tick), and the API's 422 entries (``cron``, ``timezone``,
``request.columns[0]``) are shown next to the field they name. The form keeps the request simple: dataset,
columns, format, and the filters as text (``where``); an edit keeps the rest of a request made through the
API (sort, filters, format options). The schedule is a preset (``schedule_words``) or a cron string. Sending
now queues one export, tagged with the subscription, and shows it in My exports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from export_pipelines.request.model import FORMATS
from export_pipelines.service.api.datasets import datasets
from export_pipelines.service.api.problems import Problem
from export_pipelines.service.api.subscriptions import caller_subscriptions, create, delete, edit, send_now
from export_pipelines.service.desk.guard import refused, signed_in
from export_pipelines.service.desk.render import page
from export_pipelines.service.desk.schedule_words import (
    COMMON_ZONES,
    PRESETS,
    WEEKDAYS,
    Schedule,
    cron_of,
    in_words,
    schedule_of,
)

WINDOWS = (("", "All rows"), ("day", "The day before each run"), ("week", "The 7 days before each run"),
           ("month", "The month before each run"), ("since_last_success", "Since the last successful run"))  # fmt: skip
# The form's fields an error may name; an entry for any other field is listed above the form.
FORM_FIELDS = {"name", "request.dataset", "request.columns", "request.format", "request.where", "cron", "timezone",
               "recipients", "window", "window_column", "skip_if_empty", "schedule", "schedule_time",
               "schedule_weekday"}  # fmt: skip
NOTICES = {"created": "The subscription was created.", "saved": "The subscription was saved.",
           "paused": "The subscription is paused.", "resumed": "The subscription runs again from its next time.",
           "deleted": "The subscription was deleted."}  # fmt: skip
_SPLIT = re.compile(r"[\s,;]+")


class SubscriptionPages:
    """The Subscriptions routes of one DownloadService."""

    def __init__(self, service):
        self.service = service

    def routes(self) -> list[Route]:
        def guarded(handler):
            return signed_in(self.service, handler)

        return [
            Route("/subscriptions", guarded(self.list), methods=["GET"]),
            Route("/subscriptions/new", guarded(self.new), methods=["GET", "POST"]),
            Route("/subscriptions/{name}/edit", guarded(self.edit), methods=["GET", "POST"]),
            Route("/subscriptions/{name}/pause", guarded(self.pause), methods=["POST"]),
            Route("/subscriptions/{name}/resume", guarded(self.resume), methods=["POST"]),
            Route("/subscriptions/{name}/run", guarded(self.send_now), methods=["POST"]),
            Route("/subscriptions/{name}/delete", guarded(self.delete), methods=["POST"]),
        ]

    def list(self, request: Request, session, form) -> Response:
        try:
            items = caller_subscriptions(session.caller)
        except Problem as problem:  # no table yet (503): the message says what the operator runs
            return refused(request, session, problem.detail, problem.status)
        for item in items:
            item["schedule"] = in_words(item["cron"])
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return page(request, "subscriptions.html", session, title="Subscriptions", current="subscriptions",
                    items=items, notice=notice)  # fmt: skip

    def new(self, request: Request, session, form) -> Response:
        if form is None:
            return self._form(request, session, {"timezone": "UTC", "request": {"format": "csv"}}, Schedule(), {})
        fields, schedule, errors = _fields_of(form)
        if not errors:
            try:
                create(session.caller, fields)
                return RedirectResponse("/subscriptions?notice=created", status_code=303)
            except Problem as problem:
                if problem.status not in (409, 422):
                    return refused(request, session, problem.detail, problem.status)
                errors = _errors_of(problem)
        return self._form(request, session, fields, schedule, errors, status_code=422)

    def edit(self, request: Request, session, form) -> Response:
        name = request.path_params["name"]
        try:
            current = next((item for item in caller_subscriptions(session.caller) if item["name"] == name), None)
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        if current is None:
            return refused(request, session, f"You have no subscription {name!r}.", 404)
        if form is None:
            return self._form(request, session, current, schedule_of(current["cron"]), {}, editing=name)
        fields, schedule, errors = _fields_of(form, current["request"])
        fields.pop("name", None)
        if not errors:
            try:
                edit(session.caller, name, fields)
                return RedirectResponse("/subscriptions?notice=saved", status_code=303)
            except Problem as problem:
                if problem.status != 422:
                    return refused(request, session, problem.detail, problem.status)
                errors = _errors_of(problem)
        return self._form(request, session, {**fields, "name": name}, schedule, errors, editing=name, status_code=422)

    def pause(self, request: Request, session, form) -> Response:
        return self._act(request, session, lambda name: edit(session.caller, name, {"paused": True}), "paused")

    def resume(self, request: Request, session, form) -> Response:
        return self._act(request, session, lambda name: edit(session.caller, name, {"paused": False}), "resumed")

    def delete(self, request: Request, session, form) -> Response:
        return self._act(request, session, lambda name: delete(session.caller, name), "deleted")

    def send_now(self, request: Request, session, form) -> Response:
        try:
            status, _ = send_now(self.service, session.caller, request.path_params["name"])
        except Problem as problem:
            return refused(request, session, _said(problem), problem.status)
        return RedirectResponse(f"/exports?notice={'submitted' if status == 202 else 'repeated'}", status_code=303)

    def _act(self, request: Request, session, action, notice: str) -> Response:
        try:
            action(request.path_params["name"])
        except Problem as problem:
            return refused(request, session, _said(problem), problem.status)
        return RedirectResponse(f"/subscriptions?notice={notice}", status_code=303)

    def _form(self, request, session, fields: Mapping, schedule: Schedule, errors: dict, editing: str | None = None,
              status_code: int = 200) -> Response:  # fmt: skip
        saved = fields.get("request") or {}
        shown = {
            "name": fields.get("name", ""), "dataset": saved.get("dataset", ""),
            "columns": ", ".join(saved.get("columns") or []), "format": saved.get("format", "csv"),
            "where": saved.get("where") or "", "timezone": fields.get("timezone", "UTC"),
            "recipients": ", ".join(fields.get("recipients") or []), "window": fields.get("window") or "",
            "skip_if_empty": bool(fields.get("skip_if_empty")),
        }  # fmt: skip
        general = {field: detail for field, detail in errors.items() if field not in FORM_FIELDS}
        return page(request, "subscription_form.html", session, status_code=status_code,
                    title=f"Edit {editing}" if editing else "New subscription", current="subscriptions",
                    editing=editing, form=shown, schedule=schedule, errors=errors, general=general,
                    datasets=datasets(request, session.caller)["datasets"], formats=FORMATS, presets=PRESETS,
                    weekdays=list(enumerate(WEEKDAYS)), zones=COMMON_ZONES, windows=WINDOWS)  # fmt: skip


def _fields_of(form: Mapping, saved_request: Mapping | None = None) -> tuple[dict, Schedule, dict]:
    """The subscription's fields from the form (an edit keeps the saved request's other fields), the schedule as
    typed, and the schedule's own errors."""
    text = {key: str(form.get(key) or "").strip() for key in ("name", "dataset", "columns", "format", "where",
            "preset", "time", "weekday", "cron", "timezone", "recipients", "window")}  # fmt: skip
    schedule = Schedule(text["preset"] or "daily", text["time"], text["weekday"], text["cron"])
    cron, errors = cron_of(schedule)
    request = {**(saved_request or {}), "dataset": text["dataset"], "format": text["format"] or "csv"}
    for key, value in (("columns", [c for c in _SPLIT.split(text["columns"]) if c]), ("where", text["where"])):
        if value:
            request[key] = value
        else:
            request.pop(key, None)
    fields = {"name": text["name"], "request": request, "cron": cron, "timezone": text["timezone"] or "UTC",
              "recipients": [r for r in _SPLIT.split(text["recipients"]) if r], "window": text["window"] or None,
              "skip_if_empty": form.get("skip_if_empty") in ("on", "true", True)}  # fmt: skip
    return fields, schedule, errors


def _errors_of(problem: Problem) -> dict[str, str]:
    """The API's error entries by the form's field (``request.columns[2]`` is the columns field's)."""
    if problem.status == 409:
        return {"name": problem.detail}
    errors: dict[str, str] = {}
    for entry in problem.errors or [{"field": "form", "detail": problem.detail}]:
        field = re.sub(r"\[\d+\]$", "", entry["field"])
        field = "recipients" if field == "request.recipients" else field  # the subscription's join the request's
        field = field if field in FORM_FIELDS else entry["field"]
        detail = f"{entry['field']}: {entry['detail']}" if field != entry["field"] else entry["detail"]
        if entry.get("allowed"):
            detail += f" (allowed: {entry['allowed']})"
        errors[field] = f"{errors[field]}; {detail}" if field in errors else detail
    return errors


def _said(problem: Problem) -> str:
    return "; ".join([problem.detail, *(f"{e['field']}: {e['detail']}" for e in problem.errors)])
