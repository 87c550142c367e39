"""The package's shape: the top level stays a table of contents, no module grows past ~300 lines,
and data flows one way: no two folders import each other, directly or around a circle, counting
imports inside functions (a deferred import still ties the folders together)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "export_pipelines"
MAX_TOP_LEVEL_MODULES = 12
MAX_LINES = 300
# Over the limit when the limit was set; each is to be split, not added to.
OVER_LIMIT: dict[str, int] = {}
# The process plumbing at the top, imported by every folder: it imports none of them.
PLUMBING = ("errors", "failures", "settings")


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _imported(module: str, path: Path) -> set[str]:
    """Every export_pipelines module or package this module imports, anywhere in its body."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == PACKAGE.name}


def _part(module: str) -> str | None:
    """The folder (or top-level module) a module belongs to; None for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def folder_graph() -> dict[str, dict[str, set[str]]]:
    """folder -> folder it imports -> the importing modules (for the failure message)."""
    graph: dict[str, dict[str, set[str]]] = {}
    for module, path in _modules().items():
        source = _part(module)
        for target in map(_part, _imported(module, path)):
            if source and target and target != source:
                graph.setdefault(source, {}).setdefault(target, set()).add(module)
    return graph


def _cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one folder (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_circle_between_folders():
    graph = folder_graph()
    described = [
        "; ".join(
            f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})" for a in cycle for b in cycle if b in graph.get(a, {})
        )
        for cycle in _cycles(graph)
    ]
    assert not described, "folders that import each other (the lower one must not import the higher):\n" + "\n".join(
        described
    )


def test_history_does_not_import_delivery():
    """Run history (audit) is read by delivery; the one who shows a record mints its link."""
    assert "delivery" not in folder_graph().get("observability", {})


def test_the_plumbing_at_the_top_imports_no_folder():
    """settings, errors and failures are imported by every folder: an import of theirs would close a circle."""
    modules = _modules()
    reaching = {
        name: sorted(
            imported
            for imported in _imported(f"export_pipelines.{name}", modules[f"export_pipelines.{name}"])
            if (PACKAGE / (_part(imported) or "")).is_dir()
        )
        for name in PLUMBING
    }
    assert not {name: imported for name, imported in reaching.items() if imported}, reaching


def test_the_cycle_finder_sees_a_circle_through_three_folders():
    graph = {"a": {"b": {"a.x"}}, "b": {"c": {"b.y"}}, "c": {"a": {"c.z"}}, "d": {"a": {"d.w"}}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_top_level_is_a_table_of_contents():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, f"{len(modules)} modules at the top of export_pipelines/: {modules}"


def test_no_module_is_over_300_lines():
    lengths = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    over = {path: lines for path, lines in sorted(lengths.items()) if lines > MAX_LINES}
    grown = {path: lines for path, lines in over.items() if lines > OVER_LIMIT.get(path, MAX_LINES)}
    assert not grown, f"modules over {MAX_LINES} lines (split them): {grown}"
