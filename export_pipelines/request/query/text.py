"""The text form of filters: ``where: status in (paid, refunded) and amount > 100``, parsed by Lark.

The grammar gives the same tree as ``filters`` (``query.tree``): ``and``, ``or``, ``not`` and
parentheses over conditions ``COLUMN OPERATOR VALUE``. Names and values are only text here; the
catalog checks them afterwards exactly as it checks ``filters``, and values are bound as SQL
parameters. A syntax error names the column (position, from 1) where the text stops making sense
and what could have come there.

Operators: ``=`` ``!=`` ``<>`` ``<`` ``<=`` ``>`` ``>=`` or their names (``eq`` ``ne`` ``lt`` ``le``
``gt`` ``ge``), ``in (a, b)``, ``not in (a, b)``, ``contains``, ``startswith``, ``between a and b``,
``is null``, ``is not null``, and ``within`` a relative date (``query.relative_dates``). Keywords
are case-insensitive. A value is a word or number as written (``paid``, ``100``, ``2024-05-31``),
or quoted with ``"`` or ``'`` when it holds spaces, commas, parentheses or quotes; inside quotes a
backslash escapes the quote or a backslash.
"""

from __future__ import annotations

from lark import Lark, Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.visitors import Transformer_NonRecursive

from export_pipelines.datasets.filter_tree import Budget, Group, Not, Term
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.query.relative_dates import PHRASE_PATTERN

GRAMMAR = r"""
start: disjunction
?disjunction: conjunction | conjunction (_OR conjunction)+     -> any_
?conjunction: negation | negation (_AND negation)+             -> all_
?negation: _NOT negation                         -> not_
         | "(" disjunction ")"
         | condition
condition: NAME COMPARE value                    -> compare
         | NAME IN list                          -> in_
         | NAME _NOT IN list                     -> not_in
         | NAME NOT_IN list                      -> not_in
         | NAME TEXT_OP value                    -> text_op
         | NAME BETWEEN value _AND value         -> between
         | NAME IS NULL                          -> is_null
         | NAME IS _NOT NULL                     -> not_null
         | NAME NULL_OP                          -> null_op
         | NAME WITHIN RELATIVE                  -> within
list: "(" value ("," value)* ")"
value: STRING | WORD

COMPARE.2: "<=" | ">=" | "!=" | "<>" | "=" | "<" | ">" | /(eq|ne|lt|le|gt|ge)\b/i
TEXT_OP.2: /(contains|startswith)\b/i
NULL_OP.2: /(is_null|not_null)\b/i
NOT_IN.2: /not_in\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
IN.2: /in\b/i
IS.2: /is\b/i
NULL.2: /null\b/i
BETWEEN.2: /between\b/i
WITHIN.2: /within\b/i
RELATIVE.2: /PHRASE/i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(\\.|[^"\\])*"/ | /'(\\.|[^'\\])*'/
WORD: /[^\s(),'"=<>!]+/

%import common.WS
%ignore WS
"""

_OPS = {"=": "eq", "!=": "ne", "<>": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
# Terminal names as a person reads them, for "expected ..." in syntax errors.
_EXPECTED = {
    "NAME": "a column name", "COMPARE": "a comparison (= != < <= > >=)", "IN": "in", "NOT_IN": "not_in",
    "TEXT_OP": "contains or startswith", "BETWEEN": "between", "IS": "is", "NULL": "null",
    "NULL_OP": "is_null or not_null", "WITHIN": "within", "_NOT": "not", "_AND": "and", "_OR": "or",
    "RELATIVE": "a relative date (today, yesterday, last N days|weeks|months, this|previous week|month|quarter|year)",
    "STRING": "a quoted value", "WORD": "a value", "LPAR": "(", "RPAR": ")", "COMMA": ",", "$END": "end of text",
}  # fmt: skip
_PARSER = Lark(GRAMMAR.replace("PHRASE", PHRASE_PATTERN), parser="lalr", propagate_positions=False,
               maybe_placeholders=False)  # fmt: skip


def parse_where(text: str, budget: Budget, hint: str, field: str = "where") -> Group | Not | Term:
    """The tree ``text`` describes; ExportRequestError naming ``field`` and the column of a mistake."""
    if not isinstance(text, str):
        raise ExportRequestError(field, f"{type(text).__name__} is not text", "conditions as text, e.g. amount > 100")
    if not text.strip():
        raise ExportRequestError(field, "is empty", "conditions as text, e.g. amount > 100, or leave it out")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, field) from None
    try:
        return _Build(text, field, budget, hint).transform(tree)
    except VisitError as error:  # Lark wraps what a callback raises
        raise error.orig_exc from None


def _syntax_error(error: UnexpectedInput, text: str, field: str) -> ExportRequestError:
    column = getattr(error, "column", None)
    if isinstance(error, UnexpectedEOF) or column is None or column < 1:
        column, found = len(text) + 1, "end of text"
    elif isinstance(error, UnexpectedToken) and error.token.type == "$END":
        column, found = len(text) + 1, "end of text"
    else:
        found = repr(text[column - 1: column + 19].split(None, 1)[0] if text[column - 1:].strip() else text[column - 1])
    if isinstance(error, UnexpectedCharacters):
        expected = error.allowed or set()
    else:
        expected = getattr(error, "accepts", None) or getattr(error, "expected", None) or set()
    words = sorted({_EXPECTED.get(name, name.strip('"').lower()) for name in expected})
    return ExportRequestError(
        field, f"syntax error at column {column}: unexpected {found}", " | ".join(words) or "nothing here"
    )


class _Build(Transformer_NonRecursive):
    """Parse tree to filter tree; each condition remembers its column in the text for catalog errors.

    Depth is checked bottom-up (each node carries its height), and conditions are counted with the
    request's filters, against the same caps.
    """

    def __init__(self, text: str, field: str, budget: Budget, hint: str):
        super().__init__()
        self._field, self._budget, self._hint = field, budget, hint

    def _term(self, name: Token, op: str, value=None) -> tuple:
        where = f"{self._field} (column {name.column})"
        self._budget.spend(where, self._hint)
        return Term(str(name), op, value, where), 0

    def _nest(self, node, height: int) -> tuple:
        if height > self._budget.depth:
            raise ExportRequestError(self._field, f"groups nested more than {self._budget.depth} deep", self._hint)
        return node, height

    def start(self, items):
        node, _ = items[0]
        return node if isinstance(node, Group) else Group("all", (node,))

    def any_(self, items):
        return self._nest(Group("any", tuple(node for node, _ in items)), 1 + max(h for _, h in items))

    def all_(self, items):
        return self._nest(Group("all", tuple(node for node, _ in items)), 1 + max(h for _, h in items))

    def not_(self, items):
        node, height = items[0]
        return self._nest(Not(node), height + 1)

    @v_args(inline=True)
    def compare(self, name, op, value):
        return self._term(name, _OPS.get(str(op), str(op).lower()), value)

    @v_args(inline=True)
    def in_(self, name, _in, values):
        return self._term(name, "in", values)

    def not_in(self, items):
        return self._term(items[0], "not_in", items[-1])

    @v_args(inline=True)
    def text_op(self, name, op, value):
        return self._term(name, str(op).lower(), value)

    @v_args(inline=True)
    def between(self, name, _between, low, high):
        return self._term(name, "between", [low, high])

    def is_null(self, items):
        return self._term(items[0], "is_null")

    def not_null(self, items):
        return self._term(items[0], "not_null")

    @v_args(inline=True)
    def null_op(self, name, op):
        return self._term(name, str(op).lower())

    @v_args(inline=True)
    def within(self, name, _within, phrase):
        return self._term(name, "within", " ".join(str(phrase).split()))

    def list(self, values):
        return list(values)

    @v_args(inline=True)
    def value(self, token: Token) -> str:
        if token.type == "STRING":
            return _unquote(str(token))
        return str(token)


def _unquote(quoted: str) -> str:
    """The text between the quotes, with ``\\"``, ``\\'`` and ``\\\\`` read as the character after the backslash."""
    body, out, i = quoted[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body) and body[i + 1] in "\\\"'":
            out.append(body[i + 1])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)
