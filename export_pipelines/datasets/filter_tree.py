"""The filter tree: ``all``, ``any`` and ``not`` groups over conditions, whichever form a request used.

A request may give ``filters`` as today's flat list (all of them must hold), or as a tree such as
``{any: [{column: status, op: eq, value: paid}, {not: {column: note, op: is_null}}]}``, and ``where``
as text (``query.text``). Both become the same nodes: ``Group`` and ``Not`` over ``Term`` (a condition
as the requester wrote it, with the place it came from, for error messages). ``validation`` checks
each term against the catalog and replaces it by a typed ``Condition``; ``source.predicate`` builds one SQL
predicate from the checked tree, for the count, every chunk and the PostgreSQL COPY path alike.

Sizes are bounded while the tree is read, before anything recurses deeper than the cap: a request
nested ten thousand levels deep is refused, not a stack overflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from export_pipelines.errors import ExportRequestError

GROUP_KINDS = ("all", "any", "not")
CONDITION_KEYS = ("column", "op", "value")


@dataclass(frozen=True)
class Term:
    """One condition as written, not yet checked: ``where`` names it in errors (``filters.any[1]``, ``where``)."""

    column: Any
    op: Any
    value: Any = None
    where: str = "filters"


@dataclass(frozen=True)
class Condition:
    """A checked filter: catalog column, operator, and value(s) already converted to the column type.

    ``label`` says how a relative value was written (``last 30 days in Europe/Berlin``); the value is
    then the absolute range it resolved to, which is what reports and the audit show.
    """

    column: str
    op: str
    value: Any = None
    label: str | None = None

    def describe(self) -> str:
        """How the filter reads in reports and emails: ``amount ge 10.00``, ``status in paid, shipped``."""
        if self.value is None:
            return f"{self.column} {self.op}"
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        shown = [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values]
        if self.op == "within":
            return f"{self.column} within {self.label}: from {shown[0]} to before {shown[1]}"
        return f"{self.column} {self.op} {', '.join(shown)}"


@dataclass(frozen=True)
class Group:
    """``all``: every item holds (an empty one always does); ``any``: at least one item holds."""

    kind: Literal["all", "any"]
    items: tuple

    def describe(self) -> str:
        joined = f" {'and' if self.kind == 'all' else 'or'} ".join(describe(item) for item in self.items)
        return f"({joined})" if len(self.items) > 1 else joined


@dataclass(frozen=True)
class Not:
    """The item does not hold. For a row whose column is NULL, ``not (x eq 1)`` holds: see ``source.predicate``."""

    item: Any

    def describe(self) -> str:
        return f"not {describe(self.item)}"


def describe(node) -> str:
    return node.describe()


@dataclass
class Budget:
    """What a request may still spend: conditions in all (its filters and where together), group depth."""

    conditions: int
    depth: int
    used: int = 0

    def spend(self, where: str, allowed: str) -> None:
        self.used += 1
        if self.used > self.conditions:
            raise ExportRequestError(where, f"more than {self.conditions:,} conditions", allowed)


def from_request(value: Any, field: str, budget: Budget, depth_hint: str) -> Group | Not | Term | None:
    """The tree of a request's ``filters``: None when empty; a list is ``all`` of its items.

    ``depth_hint`` is what the errors for an oversized tree suggest (the settings that raise the caps).
    """
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, (list, tuple)):
        return _group("all", value, field, 1, budget, depth_hint)
    return _node(value, field, 1, budget, depth_hint)


def _node(value: Any, where: str, depth: int, budget: Budget, hint: str):
    if not isinstance(value, Mapping):
        raise ExportRequestError(
            where, f"{type(value).__name__} is not a condition or group",
            "a mapping: {column, op, value}, or one of {all: [...]}, {any: [...]}, {not: {...}}",
        )
    groups = [key for key in value if key in GROUP_KINDS]
    if groups:
        if len(value) != 1:
            raise ExportRequestError(
                where, f"a group has exactly one key; this has {', '.join(map(str, value))}",
                "one of all, any, not, e.g. {any: [...]}",
            )
        kind = groups[0]
        if kind == "not":
            _check_depth(where, depth, budget, hint)
            inner = value["not"]
            item = _group("all", inner, f"{where}.not", depth + 1, budget, hint) if isinstance(inner, list) else (
                _node(inner, f"{where}.not", depth + 1, budget, hint)
            )
            return Not(item)
        return _group(kind, value[kind], f"{where}.{kind}", depth, budget, hint)
    unknown = [str(key) for key in value if key not in CONDITION_KEYS]
    if unknown:
        raise ExportRequestError(
            f"{where}.{unknown[0]}", "is not a key of a condition or group", "column, op, value; or all, any, not"
        )
    for required in ("column", "op"):
        if value.get(required) is None:
            raise ExportRequestError(f"{where}.{required}", "is required", "a condition has column, op and value")
    budget.spend(where, hint)
    return Term(value["column"], value["op"], value.get("value"), where)


def _group(kind: str, items: Any, where: str, depth: int, budget: Budget, hint: str) -> Group:
    _check_depth(where, depth, budget, hint)
    if not isinstance(items, (list, tuple)):
        raise ExportRequestError(where, f"{kind} takes a list of conditions or groups", "a list, e.g. [{...}, {...}]")
    if kind == "any" and not items:
        raise ExportRequestError(where, "any of no conditions matches no row", "at least one condition")
    return Group(kind, tuple(_node(item, f"{where}[{i}]", depth + 1, budget, hint) for i, item in enumerate(items)))


def _check_depth(where: str, depth: int, budget: Budget, hint: str) -> None:
    if depth > budget.depth:
        raise ExportRequestError(where, f"groups nested more than {budget.depth} deep", hint)


def map_terms(node, check: Callable[[Term], Any]):
    """The tree with each Term replaced by ``check(term)``; groups and negations kept as they are."""
    if isinstance(node, Term):
        return check(node)
    if isinstance(node, Not):
        return Not(map_terms(node.item, check))
    if isinstance(node, Group):
        return Group(node.kind, tuple(map_terms(item, check) for item in node.items))
    return node  # a checked node already (a search)


def leaves(node) -> Iterator[Any]:
    """Every condition of the tree, left to right."""
    if isinstance(node, Not):
        yield from leaves(node.item)
    elif isinstance(node, Group):
        for item in node.items:
            yield from leaves(item)
    else:
        yield node


def top_level(nodes) -> tuple:
    """Nodes that must all hold, with top-level ``all`` groups opened: ``[a, all(b, c)]`` is ``(a, b, c)``."""
    flat = []
    for node in nodes:
        if node is None:
            continue
        if isinstance(node, Group) and node.kind == "all":
            flat.extend(top_level(node.items))
        else:
            flat.append(node)
    return tuple(flat)


MAX_NESTING = 256


def nesting(value: Any) -> int:
    """How deep lists and mappings are nested in ``value``, counted with a stack of its own."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def filters_shape(value: Any) -> Any:
    """A request's ``filters`` if it has the shape of one (a list, or a mapping); ValueError otherwise.

    Nesting is counted here without recursion: Dagster's Config walks a mapping recursively right after
    validation, and a tree ten thousand levels deep would end that walk in a RecursionError. The far
    smaller EXPORT_MAX_FILTER_DEPTH is applied when the request is checked.
    """
    if value is None:
        return []
    if not isinstance(value, (list, Mapping)):
        raise ValueError("must be a list of conditions, or a group such as {any: [...]}")
    if nesting(value) > MAX_NESTING:
        raise ValueError(f"is nested more than {MAX_NESTING} levels of lists and mappings deep")
    return value


def sort_shape(value: Any) -> Any:
    """A request's ``sort`` if it is a string or a list of strings; ValueError otherwise."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError("must be 'column[:desc]' or a list of them")


def sort_keys(sort: Any) -> tuple[tuple[str, bool], ...]:
    """((column, descending), ...) from a request's ``sort``: a string (commas separate columns) or a list."""
    items = sort.split(",") if isinstance(sort, str) else list(sort or ())
    keys = []
    for index, item in enumerate(items):
        column, _, direction = item.partition(":")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            field = "sort" if len(items) == 1 else f"sort[{index}]"
            raise ExportRequestError(field, f"direction {direction!r} is not valid", "asc, desc")
        keys.append((column.strip(), direction == "desc"))
    return tuple(keys)
