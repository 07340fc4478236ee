"""What names are bound to: one walk over a file, done only when a rule asks."""

from __future__ import annotations

from collections import defaultdict

import libcst as cst

from torchlint.analysis.names import ImportMap, dotted_name
from torchlint.analysis.walk import Walker


def binding_key(node: cst.BaseExpression) -> str | None:
    """A stable key for a binding target or a use: ``x``, ``self.opt``, ``opts[0]``."""
    dotted = dotted_name(node)
    if dotted is not None:
        return dotted
    if isinstance(node, cst.Subscript):
        base = binding_key(node.value)
        if base is None:
            return None
        return base + "[]"
    return None


def last_component(key: str) -> str:
    return key.removesuffix("[]").rsplit(".", 1)[-1]


class Bindings(Walker):
    """Assignments, function definitions and classes of a file, by name."""

    def __init__(self, names: ImportMap) -> None:
        super().__init__()
        self.names = names
        self.values: dict[str, list[cst.BaseExpression | None]] = defaultdict(list)
        self.functions: dict[str, list[cst.FunctionDef]] = defaultdict(list)
        self.classes: dict[str, cst.ClassDef] = {}
        self.imports_inside_functions: list[cst.Import | cst.ImportFrom] = []

    # -- collection ---------------------------------------------------------------------------
    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                # Unpacking hides which value goes where.
                self._bind(element.value, None)
            return
        key = binding_key(target)
        if key is not None:
            self.values[key].append(value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target, None)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind(node.asname.name, node.item)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions[node.name.value].append(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes[node.name.value] = node

    # -- queries ------------------------------------------------------------------------------
    def constructor_of(self, key: str) -> str | None:
        """The qualified callee when every binding of ``key`` is a call of that same callee."""
        found: set[str] = set()
        for value in self.values.get(key, ()):
            if not isinstance(value, cst.Call):
                return None
            callee = self.names.resolve(value.func)
            if callee is None:
                callee = dotted_name(value.func)
                if callee is None:
                    return None
                callee = "?" + callee  # a call we cannot resolve, kept to detect disagreement
            found.add(callee)
        if len(found) != 1:
            return None
        only = found.pop()
        return None if only.startswith("?") else only

    def callees_of(self, key: str) -> set[str]:
        """Every resolvable callee ``key`` is bound to, anywhere in the file."""
        out: set[str] = set()
        for value in self.values.get(key, ()):
            if isinstance(value, cst.Call):
                callee = self.names.resolve(value.func)
                if callee is not None:
                    out.add(callee)
        return out
