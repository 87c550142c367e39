"""The text form of filters: what it parses to, and where and why it refuses."""

from __future__ import annotations

import pytest

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.datasets.filter_tree import Budget, Not, Term, from_request
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.query.text import parse_where
from export_pipelines.request.validation import check_request

CATALOG = load_catalog()


def parse(text: str, conditions: int = 50, depth: int = 8):
    return parse_where(text, Budget(conditions, depth), "caps")


def shape(node):
    """The tree without positions: (kind, items) for groups, (column, op, value) for conditions."""
    if isinstance(node, Term):
        return (node.column, node.op, node.value)
    if isinstance(node, Not):
        return ("not", shape(node.item))
    return (node.kind, [shape(item) for item in node.items])


def test_the_example_of_the_readme():
    text = (
        'status in (paid, refunded) and (amount > 100 or customer_name startswith "A") '
        "and created_at within last 30 days"
    )

    assert shape(parse(text)) == ("all", [
        ("status", "in", ["paid", "refunded"]),
        ("any", [("amount", "gt", "100"), ("customer_name", "startswith", "A")]),
        ("created_at", "within", "last 30 days"),
    ])  # fmt: skip


GOOD = [
    ("amount = 5", ("amount", "eq", "5")),
    ("amount == 5", None),  # == is not an operator: see the error table
    ("amount != 5", ("amount", "ne", "5")),
    ("amount <> 5", ("amount", "ne", "5")),
    ("amount<5", ("amount", "lt", "5")),
    ("amount <= 5", ("amount", "le", "5")),
    ("amount > -5.5", ("amount", "gt", "-5.5")),
    ("amount >= 5", ("amount", "ge", "5")),
    ("amount GE 5", ("amount", "ge", "5")),
    ("status not in (a, 'b c')", ("status", "not_in", ["a", "b c"])),
    ("status not_in (a)", ("status", "not_in", ["a"])),
    ("note contains '5%'", ("note", "contains", "5%")),
    ("note STARTSWITH line_one", ("note", "startswith", "line_one")),
    ("amount between 1 and 2.5", ("amount", "between", ["1", "2.5"])),
    ("note is null", ("note", "is_null", None)),
    ("note IS NOT NULL", ("note", "not_null", None)),
    ("note not_null", ("note", "not_null", None)),
    ("created_at within Previous  Quarter", ("created_at", "within", "Previous Quarter")),
    ("created_at >= 2024-05-01T12:00:00+02:00", ("created_at", "ge", "2024-05-01T12:00:00+02:00")),
    ("is_paid = true", ("is_paid", "eq", "true")),
    ("notes = 1", ("notes", "eq", "1")),  # a name starting with a keyword is a name
    # Quotes: the other quote and the wildcards are plain characters; a backslash escapes the quote or itself.
    (r"""note = 'Customer said "urgent"'""", ("note", "eq", 'Customer said "urgent"')),
    (r'note = "O\"Connor \\ 5%_"', ("note", "eq", 'O"Connor \\ 5%_')),
    (r"note = 'it\'s'", ("note", "eq", "it's")),
    ("note = 'and'", ("note", "eq", "and")),
    ("note = 'x) or (1=1'", ("note", "eq", "x) or (1=1")),
    ("note = ''", ("note", "eq", "")),
]


@pytest.mark.parametrize(("text", "expected"), [g for g in GOOD if g[1]], ids=[g[0] for g in GOOD if g[1]])
def test_one_condition(text, expected):
    assert shape(parse(text)) == ("all", [expected])


def test_and_binds_tighter_than_or_and_not_tighter_than_and():
    tree = parse("not a = 1 and b = 2 or c = 3")

    assert shape(tree) == ("any", [
        ("all", [("not", ("a", "eq", "1")), ("b", "eq", "2")]),
        ("c", "eq", "3"),
    ])  # fmt: skip


def test_parentheses_regroup_and_not_applies_to_a_group():
    assert shape(parse("not (a = 1 or b = 2) and ((c = 3))")) == (
        "all", [("not", ("any", [("a", "eq", "1"), ("b", "eq", "2")])), ("c", "eq", "3")]
    )


def test_text_and_mapping_give_the_same_tree():
    text = parse("status = paid or not note is null")
    mapping = from_request(
        {"any": [{"column": "status", "op": "eq", "value": "paid"}, {"not": {"column": "note", "op": "is_null"}}]},
        "filters", Budget(50, 8), "caps",
    )

    assert shape(text) == shape(mapping)


# (text, column of the mistake, words the error must hold)
ERRORS = [
    ("amount = 1 or", 14, ["end of text", "a column name", "("]),
    ("(amount = 1", 12, ["end of text", ")"]),
    ("amount = 1)", 11, ["')'", "end of text"]),  # LALR reduces first: only the end could come
    ("amount in ()", 12, ["')'", "a value"]),
    ("amount in (1,)", 14, ["')'", "a value"]),
    ("amount == 5", 9, ["'='", "a value"]),
    ("amount ~ 5", 8, ["'~'", "a comparison", "between", "within"]),
    ("= 5", 1, ["'='", "a column name"]),
    ("amount = 1 status = paid", 12, ["'status'", "and", "or"]),
    ("amount between 1 or 2", 18, ["'or'", "and"]),
    ("created_at within last days", 19, ["'last'", "a relative date"]),
    ("created_at within 30 days", 19, ["'30'", "last N days"]),
    ("note = 'unclosed", 8, ["a quoted value", "a value"]),
    ("note is", 8, ["end of text", "null", "not"]),
    ("", None, ["is empty"]),
    ("   ", None, ["is empty"]),
]


@pytest.mark.parametrize(("text", "column", "words"), ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_syntax_errors_say_where_and_what_was_expected(text, column, words):
    with pytest.raises(ExportRequestError) as refused:
        parse(text)

    assert refused.value.field == "where"
    message = str(refused.value)
    if column is not None:
        assert f"syntax error at column {column}:" in message
    for word in words:
        assert word in message, message


def check(**fields):
    return check_request(ExportRequest(user="admin", dataset="orders", **fields), CATALOG)


@pytest.mark.parametrize(
    ("where", "field", "words"),
    [
        ("amount > 1 and price = 2", "where (column 16)", ["unknown column 'price'", "amount"]),
        ("quantity = many", "where (column 1)", ["'many'", "a whole number"]),
        ("amount contains 5", "where (column 1)", ["contains needs a text column"]),
        ("status within last 3 days", "where (column 1)", ["within needs a date or timestamp column"]),
        ("created_at within last 0 days", "where (column 1)", ["count must be 1 to 10,000"]),
        ("shipped_on between 2024-01-01 and someday", "where (column 1)", ["'someday'", "2024-05-31"]),
    ],
)
def test_names_and_values_are_checked_against_the_catalog_naming_the_column(where, field, words):
    with pytest.raises(ExportRequestError) as refused:
        check(where=where)

    assert refused.value.field == field
    for word in words:
        assert word in str(refused.value)


def test_a_nul_byte_is_refused_as_in_filters():
    with pytest.raises(ExportRequestError, match="NUL byte"):
        check(where="note = 'a\x00b'")


def test_conditions_of_filters_and_where_count_together_against_the_cap(monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_FILTERS", "3")
    filters = [{"column": "quantity", "op": "gt", "value": 1}, {"column": "quantity", "op": "lt", "value": 9}]
    check(filters=filters, where="amount > 1")  # three: allowed

    with pytest.raises(ExportRequestError, match="more than 3 conditions") as refused:
        check(filters=filters, where="amount > 1 or amount < 0")
    assert refused.value.field == "where (column 15)" and "EXPORT_MAX_FILTERS" in str(refused.value)


def test_nesting_deeper_than_the_cap_is_refused_without_recursing(monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_FILTER_DEPTH", "3")
    check(where="not (quantity = 1 or not amount = 2)")

    with pytest.raises(ExportRequestError, match="nested more than 3 deep"):
        check(where="not (quantity = 1 or not (amount = 2 and not amount = 3))")
    with pytest.raises(ExportRequestError, match="nested more than 8 deep"):
        parse("not " * 5000 + "amount = 1")  # far past Python's recursion limit: refused, not a crash


def test_long_text_and_long_values_are_capped(monkeypatch):
    with pytest.raises(ExportRequestError, match="over the limit of 10,000") as refused:
        check(where="note = x or " * 1000 + "note = x")
    assert refused.value.field == "where" and "EXPORT_MAX_WHERE_LENGTH" in str(refused.value)

    with pytest.raises(ExportRequestError, match="1,001 characters is over the limit of 1,000") as refused:
        check(where=f"note = '{'x' * 1001}'")
    assert "EXPORT_MAX_VALUE_LENGTH" in str(refused.value)
    monkeypatch.setenv("EXPORT_MAX_VALUE_LENGTH", "2000")
    check(where=f"note = '{'x' * 1001}'")
