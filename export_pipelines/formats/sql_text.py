"""The text of each value as PostgreSQL expressions, character for character what the Arrow paths write.

A format whose chunk bytes the database server can write itself (``ServerText``) builds its row
from these. Each expression reproduces one conversion of the client path:

- integers, decimals, booleans (``true``/``false``) and dates: the server's own text, which is
  Arrow's when the column has the catalog's type (the source checks that: a decimal's scale, a
  ``double precision`` float, a ``timestamptz`` timestamp) and ``DateStyle`` is ISO;
- timestamps: ISO 8601 with six fraction digits and the offset of the request's time zone, the
  session's ``TimeZone`` while the COPY runs (``to_char``'s ``TZH:TZM``);
- floats: the server writes the shortest text that reads back as the same double
  (``extra_float_digits = 1``), as Arrow and Python do; only the notation differs. The common range
  is passed through as it is and the rare one (below 1e-4, from 1e10 for Arrow or 1e15 for
  Python, NaN and infinities) is rewritten from the server's digits, in a ``CASE`` branch that
  costs nothing for the other rows;
- text: the formula guard's leading ``'``, and JSON's escapes (``to_json``, the same escapes as
  Python's encoder, ``\\u001f`` in lowercase hexadecimal).

Not identical, and not worth a fallback: dates and timestamps before year 1 (Arrow writes a
negative year, PostgreSQL a BC suffix) and instants whose zone offset has seconds (local mean
time before about 1900), where the two time zone databases may also disagree.
"""

from __future__ import annotations

import functools
import operator
import sys
from json.encoder import encode_basestring

import sqlalchemy as sa

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.formats.base import ServerText

# OWASP's formula triggers (formats.csv.FORMULA_TRIGGERS) as the code points ascii() gives for the first
# character: tab, carriage return, + - = @.
_TRIGGERS = "(9, 13, 43, 45, 61, 64)"
_AFTER_TRIGGERS = chr(64 + 1)  # the character after the greatest trigger (@): "A"
ISO_TIMESTAMP = 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'


def sql(text: str) -> sa.ColumnElement:
    """A constant piece of SQL written here, never from a request, rendered as it is; typed as text
    so that ``+`` joins it to other text with ``||``."""
    return sa.literal_column(text, sa.Text)


def number(text: str) -> sa.ColumnElement:
    return sa.literal_column(text)


def text(value: str) -> sa.ColumnElement:
    """A string constant, bound (and quoted by the driver) whatever it holds."""
    return sa.literal(value, sa.Text)


def concat(*parts) -> sa.ColumnElement:
    return sa.func.concat(*parts, type_=sa.Text)


def as_text(column) -> sa.ColumnElement:
    return sa.cast(column, sa.Text)


def timestamp_text(column) -> sa.ColumnElement:
    """``2024-05-31T14:00:00.000000+02:00`` in the session's time zone (formats.text_values.iso_timestamps)."""
    return sa.func.to_char(column, text(ISO_TIMESTAMP))


def guarded(column) -> sa.ColumnElement:
    """Text starting with a formula trigger gets a leading ``'`` (formats.csv, ``formula_guard``)."""
    risky = _one_of(sa.func.ascii(column), _TRIGGERS)  # a code point: cheaper than comparing a first letter
    # Every trigger sorts before "A" byte by byte, so a byte comparison (collation "C") first spares most
    # values the call of ascii(): 8% less of the server's CPU time for 1M orders as CSV, the same text.
    before_letters = column.collate("C") < sql(f"'{_AFTER_TRIGGERS}'")
    return sa.case((sa.and_(before_letters, risky), sql("''''") + column), else_=column)


def csv_value(spec: ColumnSpec, column, formula_guard: bool) -> sa.ColumnElement:
    """The value as Arrow's CSV writer writes it, before quoting; NULL stays NULL (COPY writes nothing)."""
    if spec.type == "string":
        return guarded(column) if formula_guard else column
    if spec.type == "timestamp":
        return timestamp_text(column)
    if spec.type == "float":
        return arrow_float_text(column)
    if spec.type in ("integer", "decimal", "date"):
        # COPY writes them with their type's output function, as a cast to text would (dates: DateStyle
        # is pinned to ISO), without making a text value first: 8% less server time for 1M orders.
        return column
    return as_text(column)


def json_value(spec: ColumnSpec, column, decimals: str) -> sa.ColumnElement:
    """The value's JSON text as formats.json_values writes it; ``null`` for NULL."""
    if spec.type == "string":
        value = as_text(sa.func.to_json(column))
    elif spec.type == "timestamp":
        value = _quoted(timestamp_text(column))
    elif spec.type == "date" or (spec.type == "decimal" and decimals == "string"):
        value = _quoted(as_text(column))
    elif spec.type == "float":
        value = python_float_text(column)
    else:  # integers, booleans, decimals as numbers
        value = as_text(column)
    return sa.func.coalesce(value, sql("'null'"))


def json_object(columns: list[tuple[ColumnSpec, object]], decimals: str) -> sa.ColumnElement:
    """``{"name":value,...}``: keys in column order, no spaces, as ``json.dumps(separators=(",", ":"))``."""
    parts = []
    for index, (spec, column) in enumerate(columns):
        key = ("{" if index == 0 else ",") + encode_basestring(spec.name) + ":"
        parts += [text(key), json_value(spec, column, decimals)]
    # ``||``, not concat(): no part is NULL, and concat() calls an output function per part (1M orders
    # as JSON Lines: 13% less of the server's CPU time).
    return functools.reduce(operator.add, [*parts, sql("'}'")])


def csv_server_text(settings: dict, columns: tuple[ColumnSpec, ...], timezone: str) -> ServerText | None:
    """CSV rows as formats.csv writes them with Arrow's writer: quoting ``needed`` (text and
    timestamps always quoted) or ``all``, or None where COPY cannot write the same bytes:

    - quoting ``minimal`` and ``none``: the csv module's rules, and a refusal naming the row;
    - line ending ``crlf``: COPY ends every row with ``\n``;
    - an encoding other than UTF-8: the server's conversion fails without naming the row and
      column, and cannot write ``?`` instead;
    - a delimiter of more than one byte (``§``): COPY takes one byte.
    """
    delimiter = settings["delimiter"]
    if settings["quoting"] not in ("needed", "all") or settings["line_ending"] != "lf":
        return None
    if settings["encoding"] != "utf-8" or len(delimiter.encode("utf-8")) != 1:
        return None
    guard = settings["formula_guard"]

    def values(table_columns) -> list:
        return [csv_value(spec, table_columns[spec.name], guard) for spec in columns]

    quoted = tuple(i for i, spec in enumerate(columns) if spec.type in ("string", "timestamp"))
    return ServerText(values, timezone, delimiter, '"', None if settings["quoting"] == "all" else quoted)


def jsonl_server_text(settings: dict, columns: tuple[ColumnSpec, ...], timezone: str) -> ServerText:
    """JSON Lines as formats.jsonl writes them: every option can be written by the server."""

    def values(table_columns) -> list:
        return [json_object([(spec, table_columns[spec.name]) for spec in columns], settings["decimals"])]

    # One COPY column that never holds a control character (JSON escapes them all): with \x01 between
    # columns and \x02 as the quote, COPY's CSV writes each object as it is, then \n.
    return ServerText(values, timezone, "\x01", "\x02", ())


def _quoted(value) -> sa.ColumnElement:
    return sql("'\"'") + value + sql("'\"'")


def arrow_float_text(column) -> sa.ColumnElement:
    """A double as Arrow casts it to text: shortest digits, plain from 1e-6 to below 1e10, else
    ``1.5e+10`` / ``1e-7`` (no exponent padding); ``nan``, ``inf``, ``-inf``."""
    magnitude = sa.func.abs(column)
    mantissa, exponent = _shortest(magnitude)
    return sa.case(
        (sa.or_(column == number("0"), sa.and_(magnitude >= number("1e-4"), magnitude < number("1e10"))),
         as_text(column)),
        (column.is_(None), sql("NULL")),
        # PostgreSQL's NaN equals itself (and sorts above every number), so it is found by comparison.
        (column == number("'NaN'::float8"), sql("'nan'")),
        (column == number("'Infinity'::float8"), sql("'inf'")),
        (column == number("'-Infinity'::float8"), sql("'-inf'")),
        (sa.and_(magnitude >= number("1e-6"), magnitude < number("1e-4")),  # 0.0000015
         concat(_sign(column), sql("'0.'"), sa.func.repeat(sql("'0'"), -exponent - 1), _digits(mantissa))),
        (magnitude >= number("1e10"), concat(_sign(column), mantissa, sql("'e+'"), as_text(exponent))),
        else_=concat(_sign(column), mantissa, sql("'e-'"), as_text(-exponent)),
    )  # fmt: skip


def python_float_text(column) -> sa.ColumnElement:
    """A double as Python's ``repr`` writes it (``json.dumps``): plain from 1e-4 to below 1e16 with
    at least one decimal (``2.0``), else ``1e-05`` / ``1.5e+16``; NaN and infinities are NULL."""
    magnitude = sa.func.abs(column)
    mantissa, exponent = _shortest(magnitude)
    digits = _digits(mantissa)
    fraction = sa.func.substr(digits, number("17"), type_=sa.Text)
    return sa.case(
        (sa.or_(column == number("0"), sa.and_(magnitude >= number("1e-4"), magnitude < number("1e15"))),
         sa.case((column == sa.func.trunc(column), as_text(column) + sql("'.0'")), else_=as_text(column))),
        (sa.or_(column.is_(None), _one_of(column, "('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)")),
         sql("NULL")),
        # 1e15 <= x < 1e16: sixteen digits before the point (1234500000000000.0).
        (sa.and_(magnitude >= number("1e15"), magnitude < number("1e16")), concat(
            _sign(column), sa.func.rpad(sa.func.left(digits, number("16")), number("16"), sql("'0'")), sql("'.'"),
            sa.case((fraction == sql("''"), sql("'0'")), else_=fraction),
        )),
        else_=concat(_sign(column), mantissa, sa.case((exponent < number("0"), sql("'e-'")), else_=sql("'e+'")),
                     sa.case((sa.func.abs(exponent) < number("10"), sql("'0'")), else_=sql("''")),
                     as_text(sa.func.abs(exponent))),
    )  # fmt: skip


def _shortest(magnitude) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """(``d.ddd``, exponent) of the fewest significant digits that read back as ``magnitude``.

    Not the server's own text for normal numbers: above 2^54 it sometimes writes a digit more than
    the shortest (when a shorter decimal lies exactly on the edge of the double's interval), where
    Arrow and Python do not. The closest decimal of 15, then 16 digits (``to_char``'s correctly
    rounded ``EEEE``) is tried, else 17 always reads back. A normal double holds more than 15
    digits, so at most one 15-digit decimal reads back as it: without its trailing zeros, it is the
    shortest. Subnormal numbers hold fewer digits; there the server's text is the shortest.
    """
    candidates = [
        sa.func.btrim(sa.func.to_char(magnitude, sql(f"'9.{'9' * (count - 1)}EEEE'")), type_=sa.Text)
        for count in (15, 16, 17)
    ]
    chosen = sa.case(
        (magnitude < number(repr(sys.float_info.min)), as_text(magnitude)),
        *((_reads_back(c, magnitude), c) for c in candidates[:2]),
        else_=candidates[2],
    )
    point = sa.func.rtrim(sa.func.split_part(chosen, sql("'e'"), number("1")), sql("'0'"))
    mantissa = sa.func.rtrim(point, sql("'.'"), type_=sa.Text)
    return mantissa, sa.cast(sa.func.split_part(chosen, sql("'e'"), number("2")), sa.Integer)


def _reads_back(candidate, magnitude) -> sa.ColumnElement:
    # A rounding above the largest double would fail the cast: compared as numeric first (CASE keeps the order).
    too_large = sa.cast(candidate, sa.Numeric) > number(str(int(sys.float_info.max)))
    return sa.case((too_large, sa.false()), else_=sa.cast(candidate, sa.Float) == magnitude)


def _one_of(value, sql_list: str) -> sa.ColumnElement:
    return value.op("IN", is_comparison=True)(number(sql_list))


def _digits(mantissa) -> sa.ColumnElement:
    return sa.func.replace(mantissa, sql("'.'"), sql("''"), type_=sa.Text)


def _sign(column) -> sa.ColumnElement:
    return sa.case((column < number("0"), sql("'-'")), else_=sql("''"))
