"""Checking a request's display rules and merging them with the template's and the catalog's.

Each layer is checked on its own, so an error names where the mistake was written: ``formats.amount.
decimals`` in the request, ``format_options.template: columns.amount.currency`` in a template (the
catalog's were checked when it was loaded). The merged rule of a column is the request's over the
template's over the catalog's. A highlight's ``when`` is parsed by the ``where`` grammar and checked
against the catalog exactly as a filter is (typed values, relative dates resolved at ``now``); it may
only name columns the export has, since the renderers evaluate it on the exported cells.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from export_pipelines.datasets.catalog import DatasetSpec
from export_pipelines.datasets.filter_tree import Budget, map_terms
from export_pipelines.display.rules import ColumnRule, check_locale, fit_rule, parse_rule
from export_pipelines.display.styles import (
    DisplayLayer,
    DisplayRules,
    Highlight,
    HighlightRule,
    parse_highlights,
)
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.limits import MAX_FILTER_DEPTH_ENV, MAX_FILTERS_ENV, Limits
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.query.check import Coerce, check_condition

FORMATTED_FORMATS = ("csv", "json", "jsonl")
_ORDERING = ("lt", "le", "gt", "ge", "between")


def check_display(
    request: ExportRequest,
    dataset: DatasetSpec,
    columns: tuple[str, ...],
    layer: DisplayLayer | None,
    tz: ZoneInfo,
    now: datetime,
    limits: Limits,
    coerce: Coerce,
) -> DisplayRules:
    """The export's display rules, checked; ExportRequestError naming the field of the first mistake."""
    if request.formatted and request.format not in FORMATTED_FORMATS:
        raise ExportRequestError(
            "formatted", f"applies to {', '.join(FORMATTED_FORMATS)}, not {request.format}",
            f"false; {request.format} applies the display rules by itself" if request.format != "parquet" else
            "false: parquet keeps typed values and ignores display rules",
        )  # fmt: skip
    if request.formatted and (request.format_options or {}).get("quoting") == "none":
        raise ExportRequestError("formatted", "display text can hold the delimiter, which quoting 'none' cannot "
                                 "write", "quoting needed, all or minimal; or formatted false")  # fmt: skip
    locale = check_locale(request.locale) if request.locale is not None else None
    given = _request_rules(request, dataset, columns)
    template = {name: rule for name, rule in layer.columns} if layer else {}
    merged = []
    for name in columns:
        column = dataset.columns[name]
        rule = column.display
        if name in template:
            rule = fit_rule(template[name], column.type, f"{layer.field}: columns.{name}").over(rule)
        if name in given:
            rule = given[name].over(rule)
        if rule is not None:
            merged.append((name, rule))
    rules = parse_highlights(request.highlight)
    written = [(rule, f"highlight[{index}]") for index, rule in enumerate(rules)]
    if layer:  # after the request's: the first rule that holds wins
        written += [(rule, f"{layer.field}: highlight[{index}]") for index, rule in enumerate(layer.highlights)]
    highlights = _highlights(written, dataset, columns, tz, now, limits, coerce)
    return DisplayRules(
        locale=locale or (layer.locale if layer else None),
        columns=tuple(merged),
        highlights=highlights,
        formatted=request.formatted,
    )


def _request_rules(request: ExportRequest, dataset: DatasetSpec, columns: tuple[str, ...]) -> dict[str, ColumnRule]:
    rules = {}
    for name, raw in (request.formats or {}).items():
        field = f"formats.{name}"
        column = dataset.column(name, field)
        if name not in columns:
            raise ExportRequestError(field, f"column {name!r} is not among the exported columns", ", ".join(columns))
        rules[name] = fit_rule(parse_rule(raw, field), column.type, field)
    return rules


def _highlights(
    written: list[tuple[HighlightRule, str]],
    dataset: DatasetSpec,
    columns: tuple[str, ...],
    tz: ZoneInfo,
    now: datetime,
    limits: Limits,
    coerce: Coerce,
) -> tuple[Highlight, ...]:
    if not written:
        return ()
    from export_pipelines.request.query.text import parse_where  # Lark only when there are highlights

    hint = (
        f"at most {limits.max_filters:,} conditions in all highlights, in groups at most {limits.max_filter_depth} "
        f"deep; an administrator can raise {MAX_FILTERS_ENV} or {MAX_FILTER_DEPTH_ENV}"
    )
    budget = Budget(limits.max_filters, limits.max_filter_depth)
    checked = []
    for rule, field in written:
        tree = parse_where(rule.when, budget, hint, field=f"{field}.when")
        tree = map_terms(tree, _checker(dataset, columns, tz, now, limits, coerce))
        for index, name in enumerate(rule.columns):
            if name not in columns:
                raise ExportRequestError(
                    f"{field}.columns[{index}]", f"{name!r} is not among the exported columns", ", ".join(columns)
                )
        checked.append(Highlight(tree, rule.style, rule.columns, rule.when))
    return tuple(checked)


def _checker(dataset, columns, tz, now, limits, coerce) -> Callable:
    def check(term):
        condition = check_condition(term, dataset, tz, limits, now, coerce)
        if condition.column not in columns:
            raise ExportRequestError(
                term.where, f"column {condition.column!r} is not among the exported columns: a highlight is decided "
                "on the exported cells", ", ".join(columns),
            )  # fmt: skip
        if condition.op in _ORDERING and dataset.columns[condition.column].type == "string":
            raise ExportRequestError(
                term.where, f"{condition.op} on text column {condition.column!r}: spreadsheets order text "
                "differently from the database", "eq, ne, in, not_in, contains, startswith, is_null, not_null on text",
            )  # fmt: skip
        return condition

    return check

