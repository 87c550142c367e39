"""The template builder's form: a template document from its fields, its fields from a document, and each
problem of the template schema named by the field of the form that shows it.

The form's fields are named as the template's own fields (``title``, ``page.size``, ``header.left``), so a
schema error names the field that shows it, except the columns: the form has rows ``columns[0].name``,
``columns[0].width``... where the template maps names to styles (``columns.amount.width``), and a column
is summed by a row's ``columns[i].total`` box where the template lists ``totals``. ``fields_problem`` turns
the schema's names into the form's. A script sends the same fields as a JSON object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from export_pipelines.reports.template_fields import default_document, merge_over

BANDS = ("header", "footer")
SIDES = ("left", "center", "right")
TEXTS = ("title", "subtitle", "totals_label", *(f"{band}.{side}" for band in BANDS for side in SIDES))
COLUMN_FIELDS = ("name", "label", "width", "align", "number", "decimals", "currency")
EMPTY_ROWS = 3  # blank column rows under the template's own, so the form works without a script
MAX_ROWS = 60
_COLUMN_PATH = re.compile(r"^columns\.([^.]+)(?:\.([a-z_]+))?$")
_TOTAL_PATH = re.compile(r"^totals\[(\d+)\]$")


def document_from_form(form: Mapping[str, Any]) -> tuple[dict, dict[str, str], dict[str, int]]:
    """(the template document, errors by form field, the row of each column) from the builder's fields."""
    errors: dict[str, str] = {}
    rows: dict[str, int] = {}
    document: dict[str, Any] = {}
    for name in TEXTS:
        value = _text(form, name)
        section, _, field = name.partition(".")
        if field:
            document.setdefault(section, {})[field] = value
        elif value or name == "subtitle":
            document[name] = value
    document["page"] = {"size": _text(form, "page.size") or "A4",
                        "orientation": _text(form, "page.orientation") or "auto"}  # fmt: skip
    columns, totals = {}, []
    for index in range(MAX_ROWS):
        row = {field: _text(form, f"columns[{index}].{field}") for field in COLUMN_FIELDS}
        where = f"columns[{index}]"
        name, summed = row.pop("name"), bool(form.get(f"{where}.total"))
        if not name:
            if any(row.values()) or summed:
                errors[f"{where}.name"] = "name the column this row styles (its name in the dataset, e.g. amount)"
            continue
        if name in columns:
            errors[f"{where}.name"] = f"{name!r} is styled by an earlier row: one row a column"
            continue
        style = {key: value for key, value in row.items() if value}
        for key, convert, what in (("width", float, "a number of millimetres"), ("decimals", int, "a whole number")):
            if key in style:
                try:
                    style[key] = convert(style[key])
                except ValueError:
                    errors[f"{where}.{key}"] = f"{style[key]!r} is not {what}"
        columns[name], rows[name] = style, index
        if summed:
            totals.append(name)
    document["columns"], document["totals"] = columns, totals
    if _text(form, "logo") and not form.get("remove_logo"):
        document["logo"] = _text(form, "logo")
    return document, errors, rows


def form_values(document: Mapping[str, Any]) -> dict:
    """The builder's fields for a saved template (over the defaults), with blank rows to add columns."""
    merged = merge_over(default_document(), dict(document))
    values: dict[str, Any] = {name: "" for name in TEXTS}
    for name in TEXTS:
        section, _, field = name.partition(".")
        value = (merged.get(section) or {}).get(field) if field else merged.get(name)
        values[name] = "" if value is None else str(value)
    values["page.size"], values["page.orientation"] = str(merged["page"]["size"]), str(merged["page"]["orientation"])
    totals = merged.get("totals") or []
    rows = []
    for name, style in (merged.get("columns") or {}).items():
        row = {field: "" if style.get(field) is None else str(style[field]) for field in COLUMN_FIELDS}
        rows.append({**row, "name": str(name), "total": name in totals})
    rows += [{**dict.fromkeys(COLUMN_FIELDS, ""), "total": False} for _ in range(EMPTY_ROWS)]
    values["columns"] = rows[:MAX_ROWS]
    values["logo"] = merged.get("logo") or ""
    return values


def values_again(form: Mapping[str, Any]) -> dict:
    """The builder's fields as they were sent, to show the form again with its errors (rows where they were)."""
    values: dict[str, Any] = {name: _text(form, name) for name in (*TEXTS, "page.size", "page.orientation", "logo")}
    rows = []
    for index in range(MAX_ROWS):
        row = {field: _text(form, f"columns[{index}].{field}") for field in COLUMN_FIELDS}
        rows.append({**row, "total": bool(form.get(f"columns[{index}].total"))})
    while rows and not any(rows[-1].values()):
        rows.pop()
    rows += [{**dict.fromkeys(COLUMN_FIELDS, ""), "total": False} for _ in range(EMPTY_ROWS)]
    values["columns"] = rows[:MAX_ROWS]
    return values


def form_field(field: str, rows: Mapping[str, int], totals: list[str]) -> str:
    """The form's name for a field the template schema names (``columns.amount.width`` is ``columns[1].width``)."""
    column = _COLUMN_PATH.match(field)
    if column and column[1] in rows:
        return f"columns[{rows[column[1]]}].{column[2] or 'name'}"
    total = _TOTAL_PATH.match(field)
    if total and int(total[1]) < len(totals) and totals[int(total[1])] in rows:
        return f"columns[{rows[totals[int(total[1])]]}].total"
    return field


def fields_problem(entries, rows: Mapping[str, int], totals: list[str]) -> dict[str, str]:
    """A Problem's entries as {form field: what is wrong, and what is allowed}."""
    shown = {}
    for entry in entries:
        allowed = f" (allowed: {entry['allowed']})" if entry.get("allowed") else ""
        shown[form_field(entry["field"], rows, totals)] = f"{entry['detail']}{allowed}"
    return shown


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
