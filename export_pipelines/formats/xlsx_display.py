"""Display rules as Excel knows them: number formats on typed cells, and highlights as conditional formats.

Cells keep their values (numbers stay numbers, so a SUM over the column still works); a rule only
chooses the cell's number format. Excel writes the decimal and group symbols of the reader's own
settings whatever the format says, so the locale decides the currency symbol and its place (from
Babel's pattern: ``#,##0.00" €"`` for de-DE, ``"$"#,##0.00`` for en-US) and the date pattern, not
the separators. A highlight becomes one formula rule (``AND(NOT(ISBLANK($F2)),$F2>1000)``) over the
data rows, with the same meaning as the filter: text compared exactly (``EXACT``, ``FIND``), and a
condition on an empty cell false except ``ne`` and ``not_in``. NULL cells stay empty in a workbook:
the ``null`` text is for PDF and formatted CSV/JSON.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from xlsxwriter.utility import xl_col_to_name

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.datasets.filter_tree import Condition, Group, Not
from export_pipelines.display.dates import resolved_pattern
from export_pipelines.display.numbers import NumberStyle, style_for
from export_pipelines.display.rules import ColumnRule, pattern_tokens
from export_pipelines.display.styles import HighlightStyle
from export_pipelines.display.text import DEFAULT_LOCALE

_EXCEL_FIELDS = {
    ("y", 1): "yyyy", ("y", 2): "yy", ("y", 3): "yyyy", ("y", 4): "yyyy", ("d", 1): "d", ("d", 2): "dd",
    ("E", 1): "ddd", ("E", 2): "ddd", ("E", 3): "ddd", ("E", 4): "dddd", ("a", 1): "AM/PM",
    ("h", 1): "h", ("h", 2): "hh", ("H", 1): "h", ("H", 2): "hh", ("m", 1): "m", ("m", 2): "mm",
    ("s", 1): "s", ("s", 2): "ss",
}  # fmt: skip
_MONTHS = {1: "m", 2: "mm", 3: "mmm", 4: "mmmm"}
_PLAIN = set(" -/:.,()")  # shown as they are in an Excel format; anything else is escaped
EPOCH = datetime(1970, 1, 1)
EPOCH_SERIAL = 25_569


def number_format(column: ColumnSpec, rule: ColumnRule | None, locale: str | None) -> str | None:
    """The Excel number format a rule gives ``column``; None: the rule says nothing about numbers or dates."""
    if rule is None:
        return None
    if column.type in ("integer", "float", "decimal") and rule.shapes_numbers():
        style = style_for(rule, locale or DEFAULT_LOCALE, column.type, column.scale)
        return _number_code(style, rule.number or "decimal", rule.thousands is not False)
    if column.type in ("date", "timestamp") and rule.datetime is not None:
        return date_code(resolved_pattern(rule.datetime, locale or DEFAULT_LOCALE, column.type))
    return None


def _number_code(style: NumberStyle, kind: str, thousands: bool) -> str:
    digits = ("#,##0" if thousands else "0") + (
        "." + "0" * style.min_decimals + "#" * (style.max_decimals - style.min_decimals) if style.max_decimals else ""
    )
    if kind == "percent":  # Excel's own % multiplies by 100; the locale's spacing around it is kept
        return _literal(style.prefix[0].replace("%", "")) + digits + _literal(style.suffix[0].replace("%", "")) + "%"
    positive = _literal(style.prefix[0]) + digits + _literal(style.suffix[0])
    if kind == "decimal":
        return positive
    negative = _literal(style.prefix[1]) + digits + _literal(style.suffix[1])
    return f"{positive};{negative}"


def date_code(pattern: str) -> str:
    """A CLDR date pattern (dd.MM.yyyy HH:mm) as an Excel number format (dd.mm.yyyy hh:mm)."""
    parts = []
    for kind, token in pattern_tokens(pattern):
        if kind == "chars":
            parts.append(token if set(token) <= _PLAIN else "".join(f"\\{c}" for c in token))
        elif token[0] in "ML":
            parts.append(_MONTHS[token[1]])
        elif token[0] == "S":
            parts.append("0" * min(token[1], 3))  # Excel shows milliseconds at most
        else:
            parts.append(_EXCEL_FIELDS[token])
    return "".join(parts)


def _literal(text: str) -> str:
    return "".join(f"\\{c}" if c == '"' else c for c in text) if '"' in text else (f'"{text}"' if text else "")


def cell_properties(rule: ColumnRule | None) -> dict:
    """XlsxWriter format properties a rule adds to a column's cells (alignment)."""
    return {"align": rule.align} if rule is not None and rule.align else {}


def highlight_properties(style: HighlightStyle) -> dict:
    properties = {"bold": style.bold, "italic": style.italic}
    if style.color:
        properties["font_color"] = style.color
    if style.background:
        properties["bg_color"] = style.background
    return properties


def formula(node, columns: tuple[ColumnSpec, ...], timezone: str) -> str:
    """The Excel formula, relative to the first data row (2), that holds where the checked ``node`` holds."""
    letters = {column.name: f"${xl_col_to_name(index)}2" for index, column in enumerate(columns)}
    kinds = {column.name: column.type for column in columns}
    return "=" + _formula(node, letters, kinds, ZoneInfo(timezone))


def _formula(node, cells: dict, kinds: dict, zone: ZoneInfo) -> str:
    if isinstance(node, Not):
        return f"NOT({_formula(node.item, cells, kinds, zone)})"
    if isinstance(node, Group):
        if not node.items:
            return "TRUE"
        if len(node.items) == 1:
            return _formula(node.items[0], cells, kinds, zone)
        items = ",".join(_formula(item, cells, kinds, zone) for item in node.items)
        return f"{'AND' if node.kind == 'all' else 'OR'}({items})"
    return _condition(node, cells[node.column], kinds[node.column], zone)


def _condition(condition: Condition, cell: str, kind: str, zone: ZoneInfo) -> str:
    op, value = condition.op, condition.value
    present = f"NOT(ISBLANK({cell}))"
    if op in ("is_null", "not_null"):
        return f"ISBLANK({cell})" if op == "is_null" else present

    def literal(item) -> str:
        return _value(item, zone)

    if op in ("eq", "ne", "in", "not_in"):
        items = value if op in ("in", "not_in") else (value,)
        tests = [f"EXACT({cell},{literal(v)})" if kind == "string" else f"{cell}={literal(v)}" for v in items]
        matched = f"AND({present},{tests[0] if len(tests) == 1 else 'OR(' + ','.join(tests) + ')'})"
        return matched if op in ("eq", "in") else f"NOT({matched})"
    if op == "contains":
        return f"AND({present},ISNUMBER(FIND({literal(value)},{cell})))"
    if op == "startswith":
        return f"AND({present},EXACT(LEFT({cell},{len(value)}),{literal(value)}))"
    if op in ("between", "within"):
        upper = "<=" if op == "between" else "<"
        return f"AND({present},{cell}>={literal(value[0])},{cell}{upper}{literal(value[1])})"
    symbol = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
    return f"AND({present},{cell}{symbol}{literal(value)})"


def _value(value, zone: ZoneInfo) -> str:
    """A typed filter value as the cell holds it: numbers, serial dates (wall-clock time), text, TRUE/FALSE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        local = value.astimezone(zone).replace(tzinfo=None) if value.tzinfo else value
        return repr(EPOCH_SERIAL + (local - EPOCH).total_seconds() / 86_400)
    if isinstance(value, date):
        return str(EPOCH_SERIAL + (value - EPOCH.date()).days)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace('"', '""') + '"'
