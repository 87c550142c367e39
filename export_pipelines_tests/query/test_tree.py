"""The filters tree as a request holds it: the shapes it accepts, and errors that name the exact place."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.datasets.filter_tree import Condition, Group, Not
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request

CATALOG = load_catalog()
PAID = {"column": "status", "op": "eq", "value": "paid"}


def conditions(filters, **fields):
    return check_request(ExportRequest(user="admin", dataset="orders", filters=filters, **fields), CATALOG).conditions


def test_the_flat_list_still_means_all():
    assert conditions([PAID, {"column": "quantity", "op": "ge", "value": "2"}]) == (
        Condition("status", "eq", "paid"), Condition("quantity", "ge", 2)
    )


def test_a_tree_is_typed_by_the_catalog():
    tree = {"any": [PAID, {"not": {"column": "amount", "op": "between", "value": ["1", "2.50"]}}]}

    (node,) = conditions(tree)

    assert isinstance(node, Group) and node.kind == "any" and isinstance(node.items[1], Not)
    assert node.items[1].item.value[1] == __import__("decimal").Decimal("2.50")
    assert node.describe() == "(status eq paid or not amount between 1, 2.50)"


@pytest.mark.parametrize(
    ("filters", "field", "words"),
    [
        ({"any": [PAID, {"not": {"column": "price", "op": "eq", "value": 1}}]}, "filters.any[1].not.column",
         ["'price'"]),
        ({"all": [{"any": [{"column": "quantity", "op": "eq", "value": "x"}]}]}, "filters.all[0].any[0].value",
         ["a whole number"]),
        ({"any": [PAID], "all": []}, "filters", ["exactly one key"]),
        ({"any": []}, "filters.any", ["at least one condition"]),
        ({"any": PAID}, "filters.any", ["a list"]),
        ({"some": [PAID]}, "filters.some", ["column, op, value; or all, any, not"]),
        ([PAID, "status = paid"], "filters[1]", ["not a condition or group"]),
        ([{"column": "status", "value": "paid"}], "filters[0].op", ["is required"]),
        ([{"column": "status", "op": "like", "value": "p%"}], "filters[0].op", ["within", "not_null"]),
        ({"not": {"any": [{"column": "note", "op": "contains", "value": "a\x00"}]}}, "filters.not.any[0].value",
         ["NUL"]),
    ],
)  # fmt: skip
def test_errors_name_the_place_in_the_tree(filters, field, words):
    with pytest.raises(ExportRequestError) as refused:
        conditions(filters)

    assert refused.value.field == field
    for word in words:
        assert word in str(refused.value)


def test_depth_and_conditions_of_a_tree_are_capped(monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_FILTER_DEPTH", "2")
    conditions({"any": [{"not": PAID}]})
    with pytest.raises(ExportRequestError, match="nested more than 2 deep") as refused:
        conditions({"any": [{"not": {"all": [PAID]}}]})
    assert "EXPORT_MAX_FILTER_DEPTH" in str(refused.value)

    monkeypatch.delenv("EXPORT_MAX_FILTER_DEPTH")
    monkeypatch.setenv("EXPORT_MAX_FILTERS", "2")
    with pytest.raises(ExportRequestError, match="more than 2 conditions"):
        conditions({"any": [PAID, {"not": {"any": [PAID, PAID]}}]})


def test_a_tree_ten_thousand_levels_deep_is_refused_not_a_crash():
    tree = PAID
    for _ in range(10_000):
        tree = {"not": tree}

    with pytest.raises(ValidationError, match="nested more than 256 levels"):
        ExportRequest(user="admin", dataset="orders", filters=tree)
    with pytest.raises(ExportRequestError, match="nested more than 8 deep"):
        conditions({"any": [tree_of(100)]})


def tree_of(depth: int) -> dict:
    tree = PAID
    for _ in range(depth):
        tree = {"not": tree}
    return tree


def test_filters_of_another_shape_are_refused_by_the_schema():
    with pytest.raises(ValidationError, match="a list of conditions, or a group"):
        ExportRequest(user="admin", dataset="orders", filters="status = paid")


def test_the_depth_setting_has_a_ceiling():
    from export_pipelines.errors import SettingsError
    from export_pipelines.request.limits import Limits

    assert Limits.from_env({"EXPORT_MAX_FILTER_DEPTH": "64"}).max_filter_depth == 64
    with pytest.raises(SettingsError, match="EXPORT_MAX_FILTER_DEPTH=65 is over the ceiling of 64"):
        Limits.from_env({"EXPORT_MAX_FILTER_DEPTH": "65"})
