"""What a rule sees of the file it checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import libcst as cst

from torchlint.analysis.facts import TorchFacts
from torchlint.fixes import render

N = TypeVar("N", bound=cst.CSTNode)


@dataclass
class FileContext:
    path: str
    source: str
    module: cst.Module
    facts: TorchFacts
    torch_version: tuple[int, int] | None = None
    # Ancestors of the node being visited, the node itself last (kept by the engine).
    stack: list[cst.CSTNode] = field(default_factory=list)
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The file matches the ``test-code`` setting (tests, conftest.py, tests/ folders).
    test_code: bool = False

    def qualified_name(self, expr: cst.BaseExpression) -> str | None:
        return self.facts.names.resolve(expr)

    def code(self, node: cst.CSTNode) -> str:
        return render(node, self.module)

    def ancestors(self) -> list[cst.CSTNode]:
        """Ancestors of the current node, nearest first (the node itself excluded)."""
        return self.stack[-2::-1]

    def path_up(self) -> list[tuple[cst.CSTNode, cst.CSTNode]]:
        """(ancestor, its child on the way down to the current node), nearest ancestor first."""
        stack = self.stack
        return [(stack[i - 1], stack[i]) for i in range(len(stack) - 1, 0, -1)]

    def enclosing(self, kind: type[N], *, stop_at_scope: bool = False) -> N | None:
        for node in self.ancestors():
            if isinstance(node, kind):
                return node
            if stop_at_scope and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return None
        return None

    def enclosing_statement(self) -> cst.BaseStatement | None:
        """The innermost statement line or compound statement holding the current node."""
        for node in self.stack[::-1]:
            if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                return node
        return None

    def block_indent(self) -> str:
        """The indentation of the block holding the current node."""
        indent = ""
        for node in self.stack:
            if isinstance(node, cst.IndentedBlock):
                indent += node.indent if node.indent is not None else self.module.default_indent
        return indent
