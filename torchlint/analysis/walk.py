"""A fast pre-order walk over LibCST trees, in source order.

LibCST's own ``visit`` rebuilds each node's children as it goes (it serves transformers too), which
costs several times the parse. Linting only reads the tree, so torchlint walks the node fields
directly and skips punctuation and whitespace, which no rule inspects as a node of its own (rules
read those through their parents' attributes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

# Ancestors of a node, nearest first, each with its child on the way down (``FileContext.path_up()``).
PathUp = Sequence[tuple[cst.CSTNode, cst.CSTNode]]
# The nodes that open a scope of their own inside a module: what a name means changes there.
SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)

_SKIPPED = frozenset(
    {
        "lpar",
        "rpar",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "leading_lines",
        "lines_after_decorators",
        "trailing_whitespace",
        "header",
        "footer",
        "comma",
        "equal",
        "dot",
        "colon",
        "semicolon",
        "operator",
        "asynchronous",
        "newline",
        "whitespace",
        "encoding",
        "default_indent",
        "default_newline",
        "has_trailing_newline",
        "indent",
        "star",
        "arrow",
        "walrus",
        "await_token",
    }
)
# Fields whose dataclass order differs from the order they appear in source.
_ORDER: dict[type, tuple[str, ...]] = {
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.IfExp: ("body", "test", "orelse"),
}
_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(kind: type) -> tuple[str, ...]:
    fields = _FIELDS.get(kind)
    if fields is None:
        declared = [f.name for f in dataclasses.fields(kind)]
        names = tuple(n for n in _ORDER.get(kind, ()) if n in declared) or tuple(
            n for n in declared if n not in _SKIPPED and not n.startswith("whitespace")
        )
        fields = _FIELDS[kind] = names
    return fields


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    for name in child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(v for v in value if isinstance(v, cst.CSTNode))
    return out


def walk(
    node: cst.CSTNode,
    visit: Callable[[cst.CSTNode], Any],
    leave: Callable[[cst.CSTNode], Any] | None = None,
) -> None:
    """Call ``visit`` on every node (pre-order; ``False`` skips the children) and ``leave`` after.

    Iterative, so generated code nested thousands of levels deep cannot exhaust the stack.
    """
    pending: list[tuple[cst.CSTNode, bool]] = [(node, False)]
    pop, push = pending.pop, pending.append
    while pending:
        current, leaving = pop()
        if leaving:
            leave(current)  # type: ignore[misc]
            continue
        if visit(current) is False:
            continue
        if leave is not None:
            push((current, True))
        kids = children(current)
        for index in range(len(kids) - 1, -1, -1):
            push((kids[index], False))


class Walker:
    """A read-only visitor with LibCST's ``visit_<Node>``/``leave_<Node>`` method names.

    ``Walker().walk(node)`` is a drop-in for ``node.visit(CSTVisitor())`` in analysis code.
    """

    def __init__(self) -> None:
        self._visit_cache: dict[type, Any] = {}
        self._leave_cache: dict[type, Any] = {}

    def _method(self, cache: dict[type, Any], prefix: str, kind: type) -> Any:
        if kind not in cache:
            cache[kind] = getattr(self, f"{prefix}_{kind.__name__}", None)
        return cache[kind]

    def _visit(self, node: cst.CSTNode) -> Any:
        method = self._method(self._visit_cache, "visit", type(node))
        return method(node) if method is not None else None

    def _leave(self, node: cst.CSTNode) -> None:
        method = self._method(self._leave_cache, "leave", type(node))
        if method is not None:
            method(node)

    def walk(self, node: cst.CSTNode) -> None:
        walk(node, self._visit, self._leave)


class ScopeWalker(Walker):
    """A walker that stays in the scope it starts in: nested functions, classes and lambdas (their
    bodies run at another time, with other names) are not entered."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False
