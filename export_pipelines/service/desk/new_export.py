"""New export: the form where a user asks for an export, or for one on a schedule (a subscription).

What the form offers is what ``GET /api/v1/datasets`` answers (``export_choices``: the datasets the user
holds a grant on, their columns with the operators each type accepts, the formats and their options), and
what it sends goes through the API's own functions: ``submit`` (the gate, every limit), ``estimate``, and
the subscriptions' ``create``. A refusal shows the form again as the user filled it, with each error of
the API next to the input it names (``export_form``). ``POST /exports/new/estimate`` is the page script's:
the form's fields as JSON (CSRF secret in ``X-CSRF-Token``), answered with the estimate, or the errors by
input name. Without JavaScript the form's buttons do the same work through plain POSTs.
"""

from __future__ import annotations

from zoneinfo import available_timezones

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from export_pipelines.service.api.datasets import export_choices
from export_pipelines.service.api.estimate import estimate
from export_pipelines.service.api.problems import NO_STORE, Problem
from export_pipelines.service.api.submit import submit
from export_pipelines.service.api.subscriptions import create as create_subscription
from export_pipelines.service.desk.export_form import NO_VALUE_OPS, ExportForm, form_errors
from export_pipelines.service.desk.guard import signed_in
from export_pipelines.service.desk.render import page

TIME_ZONES = sorted(available_timezones() - {"localtime"})
MIB = 1 << 20
OPERATORS = {"eq": "is", "ne": "is not", "lt": "is less than", "le": "is at most", "gt": "is more than",
             "ge": "is at least", "in": "is one of", "not_in": "is none of", "contains": "contains",
             "startswith": "starts with", "between": "is between", "is_null": "is empty", "not_null": "is not empty",
             "within": "is within"}  # fmt: skip
# The value input of a filter row: by the column's type, unless the operator takes a list or a phrase (text).
VALUE_INPUTS = {"integer": {"type": "number", "step": "1"}, "float": {"type": "number", "step": "any"},
                "decimal": {"type": "number", "step": "any"}, "date": {"type": "date"},
                "timestamp": {"type": "datetime-local", "step": "1"}, "boolean": {"type": "select"},
                "string": {"type": "text"}}  # fmt: skip
TEXT_OPS = {"in": "a, b, c", "not_in": "a, b, c", "between": "low, high", "within": "last 30 days"}


class NewExport:
    """The New export routes of one DownloadService."""

    def __init__(self, service):
        self.service = service

    def routes(self) -> list[Route]:
        return [
            Route("/exports/new", signed_in(self.service, self.form), methods=["GET", "POST"]),
            Route("/exports/new/estimate", signed_in(self.service, self.estimate), methods=["POST"]),
        ]

    def form(self, request: Request, session, form) -> Response:
        choices = export_choices(session.caller)
        if form is None:
            fresh = ExportForm.initial(choices, request.query_params.get("dataset"))
            return self._page(request, session, choices, fresh)
        state = ExportForm.parse(form, choices)
        if state.action == "estimate":
            try:
                shown = estimate_text(estimate(self.service, session.caller, state.body()))
            except Problem as problem:
                return self._page(request, session, choices, state, problem, status_code=_status(problem))
            return self._page(request, session, choices, state, estimated=shown)
        if state.action != "submit":
            return self._page(request, session, choices, state)
        try:
            body = state.body()
            if state.repeat:
                create_subscription(session.caller, state.subscription_fields(body))
                return RedirectResponse("/subscriptions", status_code=303)
            status, _ = submit(self.service, session.caller, body, None)
        except Problem as problem:
            return self._page(request, session, choices, state, problem, status_code=_status(problem))
        return RedirectResponse(f"/exports?notice={'submitted' if status == 202 else 'repeated'}", status_code=303)

    def estimate(self, request: Request, session, form) -> Response:
        """The page script's estimate: ``{rows, bytes, seconds, text}``, or ``{detail, errors}`` by input name."""
        state = ExportForm.parse(form, export_choices(session.caller))
        try:
            answer = estimate(self.service, session.caller, state.body())
        except Problem as problem:
            errors = form_errors(problem)
            return JSONResponse({"detail": problem.detail, "errors": errors}, status_code=problem.status,
                                headers={**NO_STORE, **problem.headers})  # fmt: skip
        return JSONResponse({**answer, "text": estimate_text(answer)}, headers=NO_STORE)

    def _page(self, request, session, choices, state: ExportForm, problem: Problem | None = None,
              status_code: int = 200, estimated: str | None = None) -> Response:  # fmt: skip
        errors = form_errors(problem, state.repeat) if problem else {}
        if problem is not None and problem.status == 503 and state.repeat and not errors:
            errors["repeat"] = problem.detail  # no subscriptions table yet: said next to the checkbox
        elif problem is not None and problem.code == "name_taken":
            errors["schedule_name"] = problem.detail
        placed = state.placed_fields()
        unplaced = {name: message for name, message in errors.items() if name not in placed}
        summary = problem.detail if problem is not None and not errors else None
        dataset = next((entry for entry in choices["datasets"] if entry["name"] == state.dataset), None)
        return page(request, "new_export.html", session, status_code=status_code, title="New export",
                    current="new", choices=choices, state=state, dataset=dataset, items=_column_items(dataset, state),
                    columns_by_name={column["name"]: column for column in (dataset or {}).get("columns", [])},
                    errors=errors, unplaced=unplaced, summary=summary, estimated=estimated, time_zones=TIME_ZONES,
                    operators=OPERATORS, value_input=value_input,
                    inputs={"types": VALUE_INPUTS, "text_ops": TEXT_OPS, "no_value": NO_VALUE_OPS,
                            "labels": OPERATORS})  # fmt: skip


def value_input(column: dict | None, op: str) -> dict:
    """The input a filter's value is typed in (the page script chooses it from the same tables)."""
    if op in TEXT_OPS:
        return {"type": "text", "placeholder": TEXT_OPS[op]}
    return VALUE_INPUTS.get(column["type"] if column else "string", VALUE_INPUTS["string"])


def estimate_text(answer: dict) -> str:
    """``about 1,234 rows, ~2.5 MiB``: what the file would hold, as the form shows it."""
    size = answer["bytes"]
    shown = f"~{size / MIB:,.1f} MiB" if size >= MIB / 10 else f"~{max(1, round(size / 1024)):,} KiB"
    return f"about {answer['rows']:,} {'row' if answer['rows'] == 1 else 'rows'}, {shown}"


def _status(problem: Problem) -> int:
    return problem.status if 400 <= problem.status < 600 else 422


def _column_items(dataset: dict | None, state: ExportForm) -> list[dict]:
    """The column checkboxes in the order shown: each with its catalog entry (None for a name the catalog lacks),
    whether it is chosen, and its place among the chosen (the index of ``columns[<i>]`` errors)."""
    catalog = {column["name"]: column for column in (dataset or {}).get("columns", [])}
    items = []
    for name in state.column_order:
        index = state.columns.index(name) if name in state.columns else None
        items.append({"name": name, "column": catalog.get(name), "chosen": index is not None, "index": index})
    return items
