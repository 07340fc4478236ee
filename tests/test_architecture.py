"""The torchlint package's import graph has no cycles.

The graph is built from the source with ``ast``: every import counts, at module level, under
``TYPE_CHECKING`` and inside functions, since a cycle through any of them ties two modules
together (a module cannot be understood, tested or moved without the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "torchlint"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The torchlint modules ``path`` imports (``from a import b`` counts ``a.b`` when it is a
    module, else ``a``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    # ``import torchlint.a.b`` imports torchlint.a too, but that edge says nothing about design:
    # only the modules named count.
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_a_cycle(graph, component) for component in components]


def _a_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as a path back to it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in {component}")


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


ENGINE = ("engine", "lint", "fix_loop", "parsing", "dispatch", "locate", "fix_edits", "edits")
DOORS = ("torchlint.cli", "torchlint.lsp", "torchlint.report", "torchlint.runner")


def test_the_engine_imports_no_door() -> None:
    graph = import_graph()
    for name in ENGINE:
        doors = {m for m in reachable(graph, f"torchlint.{name}") if m.startswith(DOORS)}
        assert not doors, f"torchlint.{name} imports {sorted(doors)}"


def test_reporters_take_results_from_diagnostics_not_the_runner() -> None:
    graph = import_graph()
    reporters = [m for m in graph if m.startswith("torchlint.report")]
    assert "torchlint.report.sarif" in reporters
    for reporter in reporters:
        assert "torchlint.runner" not in reachable(graph, reporter), reporter


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_function_level_imports_are_edges() -> None:
    graph = import_graph()
    # lint_source is imported inside a function of the runner, so that a cached run never
    # loads LibCST: the edge is there all the same.
    assert "torchlint.engine" in graph["torchlint.runner"]
    assert "torchlint.diagnostics" in graph["torchlint.report.text"]


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)
