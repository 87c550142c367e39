"""The New export form's fields: read from a POST (or the page script's JSON), turned into the API's body.

The form names its inputs as the request names its fields, so an error of the API (``columns[1]``,
``filters[0].value``, ``format_options.delimiter``) is shown next to the input it concerns: filter rows are
``filters[<i>].column|op|value``; the options of each format are ``format_options.<format>.<option>``
(only the chosen format's are read). The page's script sends the same fields as JSON (``{name: [values]}``),
so the estimate reads them here too. What the user typed is kept as typed, to show the form again.

Without JavaScript the form still does everything: buttons named ``action`` move a column up or down,
add or remove a filter row, and show the columns and options of a newly chosen dataset or format;
only ``submit`` sends the export (or creates the subscription).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from export_pipelines.service.api.datasets import option_type
from export_pipelines.service.api.problems import Problem, from_pydantic
from export_pipelines.service.api.submit import ExportBody

NO_VALUE_OPS = ("is_null", "not_null")
MAX_FILTER_ROWS = 50  # far above EXPORT_MAX_FILTERS' default; the request's own check names the real limit
PRESETS = {"daily": "{m} {h} * * *", "weekly": "{m} {h} * * 1", "monthly": "{m} {h} 1 * *"}
_FILTER_INPUT = re.compile(r"^filters\[(\d{1,3})\]\.(column|op|value)$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_INTEGER = re.compile(r"^[+-]?\d{1,19}$")


def values(form: Mapping, name: str) -> list[str]:
    """Every value sent for ``name``: a form's repeated fields, or a JSON list (a lone string counts as one)."""
    if hasattr(form, "getlist"):
        sent = form.getlist(name)
    else:
        sent = form.get(name)
        sent = sent if isinstance(sent, list) else [] if sent is None else [sent]
    return [item for item in sent if isinstance(item, str)]


def value(form: Mapping, name: str, default: str = "") -> str:
    sent = values(form, name)
    return sent[-1].strip() if sent else default


@dataclass
class ExportForm:
    """What the user chose, as typed; ``body()`` is the API's request body from it."""

    dataset: str
    column_order: list[str]  # every column shown, in the order shown
    columns: list[str]  # the chosen ones, in their order
    filters: list[dict] = field(default_factory=list)  # {"column", "op", "value"} as typed
    sort_column: str = ""
    sort_direction: str = "asc"
    format: str = "csv"
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # format -> option -> text
    compression: str = "none"
    timezone: str = "UTC"
    recipients: str = ""
    repeat: bool = False
    schedule_name: str = ""
    schedule_preset: str = "daily"
    schedule_time: str = "06:00"
    cron: str = ""
    action: str = "submit"

    @classmethod
    def initial(cls, choices: dict, dataset: str | None = None) -> ExportForm:
        """A fresh form: ``dataset`` (else the first the user may export) with every column chosen."""
        names = [entry["name"] for entry in choices["datasets"]]
        chosen = dataset if dataset in names else (names[0] if names else "")
        catalog_order = column_names(choices, chosen)
        return cls(dataset=chosen, column_order=catalog_order, columns=list(catalog_order))

    @classmethod
    def parse(cls, form: Mapping, choices: dict) -> ExportForm:
        dataset = value(form, "dataset")
        known = column_names(choices, dataset)
        if dataset != value(form, "shown_dataset", dataset):  # another dataset: its columns, no filters yet
            typed = cls.parse({**_plain(form), "shown_dataset": dataset, "action": "refresh"}, choices)
            return replace(typed, column_order=known, columns=list(known), filters=[], sort_column="")
        shown = [name for name in values(form, "column_order") if name in known]
        chosen = values(form, "columns")
        order = list(dict.fromkeys([*shown, *known, *chosen]))
        return cls(
            dataset=dataset,
            column_order=order,
            columns=chosen,
            filters=_filter_rows(form),
            sort_column=value(form, "sort_column"),
            sort_direction="desc" if value(form, "sort_direction") == "desc" else "asc",
            format=value(form, "format", "csv"),
            options={entry["name"]: _typed_options(form, entry) for entry in choices["formats"]},
            compression=value(form, "compression", "none"),
            timezone=value(form, "timezone", "UTC"),
            recipients=value(form, "recipients"),
            repeat=value(form, "repeat") in ("on", "true", "1"),
            schedule_name=value(form, "schedule_name"),
            schedule_preset=value(form, "schedule_preset", "daily"),
            schedule_time=value(form, "schedule_time", "06:00"),
            cron=value(form, "cron"),
            action=value(form, "action", "submit"),
        ).acted()

    def acted(self) -> ExportForm:
        """The form after a button other than submit: a column moved, a filter row added or removed."""
        verb, _, target = self.action.partition(":")
        if verb in ("up", "down") and target in self.column_order:
            self.column_order = _moved(self.column_order, target, -1 if verb == "up" else 1)
            self.columns = [name for name in self.column_order if name in self.columns]
        elif verb == "add_filter" and len(self.filters) < MAX_FILTER_ROWS:
            self.filters.append({"column": "", "op": "eq", "value": ""})
        elif verb == "remove_filter" and target.isdigit() and int(target) < len(self.filters):
            del self.filters[int(target)]
        return self

    def body_fields(self) -> dict:
        """The fields of the API's body, as JSON would carry them (the pydantic model checks their shapes)."""
        fields: dict = {"dataset": self.dataset, "format": self.format, "compression": self.compression,
                        "timezone": self.timezone or "UTC"}  # fmt: skip
        if self.columns:
            fields["columns"] = list(self.columns)
        if self.filters:
            fields["filters"] = [_condition(row) for row in self.filters]
        if self.sort_column:
            fields["sort"] = self.sort_column + (":desc" if self.sort_direction == "desc" else "")
        options = {name: _option_value(name, text) for name, text in self.options.get(self.format, {}).items() if text}
        if options:
            fields["format_options"] = options
        recipients = [address for address in re.split(r"[\s,;]+", self.recipients) if address]
        if recipients:
            fields["recipients"] = recipients
        return fields

    def body(self):
        """The API's ``ExportBody``; a 422 naming each field whose shape is wrong."""
        try:
            return ExportBody.model_validate(self.body_fields())
        except ValidationError as error:
            raise from_pydantic(error.errors()) from None

    def subscription_fields(self, body) -> dict:
        """The fields of ``POST /api/v1/subscriptions`` for "repeat on a schedule"; a 422 for a bad time."""
        request = body.model_dump(mode="json", exclude_unset=True)
        recipients = request.pop("recipients", [])
        request.pop("timezone", None)  # the subscription's time zone is the request's
        return {"name": self.schedule_name, "request": request, "cron": self.schedule_cron(),
                "timezone": self.timezone or "UTC", "recipients": recipients}  # fmt: skip

    def schedule_cron(self) -> str:
        if self.schedule_preset not in PRESETS:
            return self.cron
        time = _TIME.match(self.schedule_time)
        if time is None:
            entry = {"field": "schedule_time", "detail": f"{self.schedule_time!r} is not a time", "allowed": "HH:MM"}
            raise Problem(422, "invalid_request", "the time of the schedule is not valid", [entry])
        return PRESETS[self.schedule_preset].format(h=int(time[1]), m=int(time[2]))

    def placed_fields(self) -> set[str]:
        """The error names the form shows next to an input; any other is listed above the form."""
        placed = {"dataset", "columns", "filters", "sort", "format", "compression", "timezone", "recipients",
                  "repeat", "schedule_name", "schedule_time", "cron"}  # fmt: skip
        placed.update(f"columns[{index}]" for index in range(len(self.columns)))
        for index in range(len(self.filters)):
            placed.update(f"filters[{index}]{part}" for part in ("", ".column", ".op", ".value"))
        placed.update(f"format_options.{name}" for name in self.options.get(self.format, {}))
        return placed


def column_names(choices: dict, dataset: str) -> list[str]:
    for entry in choices["datasets"]:
        if entry["name"] == dataset:
            return [column["name"] for column in entry["columns"]]
    return []


def form_errors(problem: Problem, repeat: bool = False) -> dict[str, str]:
    """``{input name: message}`` of a refusal: each entry of the problem under the name of its input."""
    errors: dict[str, str] = {}
    for entry in problem.errors:
        name = _input_name(str(entry.get("field", "")), repeat)
        message = str(entry.get("detail", "is not valid"))
        if entry.get("allowed"):
            message += f" (allowed: {entry['allowed']})"
        errors[name] = f"{errors[name]}; {message}" if name in errors else message
    if not errors and problem.code == "no_grant":
        errors["dataset"] = problem.detail
    return errors


def _input_name(name: str, repeat: bool) -> str:
    name = name.removeprefix("request.")
    if name.startswith("sort"):
        return "sort"
    if name.startswith("recipients"):
        return "recipients"
    if repeat and name == "name":
        return "schedule_name"
    if repeat and name == "window_column":
        return "repeat"
    return name


def _plain(form: Mapping) -> dict[str, list[str]]:
    return {name: values(form, name) for name in form.keys()}


def _filter_rows(form: Mapping) -> list[dict]:
    """The filter rows in the order of their numbers, renumbered from 0; a row with no column is left out."""
    rows: dict[int, dict] = {}
    for name in list(form.keys()):
        found = _FILTER_INPUT.match(name)
        if found and len(rows) <= MAX_FILTER_ROWS:
            rows.setdefault(int(found[1]), {"column": "", "op": "eq", "value": ""})[found[2]] = value(form, name)
    return [row for _, row in sorted(rows.items()) if row["column"]]


def _condition(row: dict) -> dict:
    condition = {"column": row["column"], "op": row["op"]}
    if row["op"] not in NO_VALUE_OPS and row["value"] != "":
        condition["value"] = row["value"]
    return condition


def _typed_options(form: Mapping, format_entry: dict) -> dict[str, str]:
    """``{option: text}`` of one format's option inputs, ``format_options.<format>.<option>``."""
    prefix = f"format_options.{format_entry['name']}."
    return {option["name"]: value(form, prefix + option["name"]) for option in format_entry["options"]}


def _option_value(name: str, text: str):
    """An option as its type wants it: ``true``/``false`` a boolean, digits an integer; else the text (which the
    model refuses, naming the option, if it is not one)."""
    kind = option_type(name)
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    if kind == "integer" and _INTEGER.match(text):
        return int(text)
    return text


def _moved(order: list[str], name: str, step: int) -> list[str]:
    index = order.index(name)
    target = index + step
    if not 0 <= target < len(order):
        return order
    moved = list(order)
    moved[index], moved[target] = moved[target], moved[index]
    return moved
