"""What names are bound to: one walk over a file, done only when a rule asks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

import libcst as cst

from torchlint.analysis.names import ImportMap, dotted_name
from torchlint.analysis.scopes import FileScopes, PathUp, Value
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
    """Assignments, function definitions and classes of a file, by name.

    ``values`` is file-wide: every binding of a key anywhere in the file. The ``path`` argument of
    the queries (the ancestors of the use, nearest first) narrows them to the scope that owns the
    key there (:mod:`torchlint.analysis.scopes`): a ``criterion`` of another function, or a
    ``self.loss_fn`` of an unrelated class, then says nothing.
    """

    def __init__(self, names: ImportMap, source: str | None = None) -> None:
        super().__init__()
        self.names = names
        # Whether an expression may hold a scope or a binding of its own (a lambda, a walrus):
        # without either, the scopes' walk need not enter expressions, most of a file's nodes.
        self._inline_scopes = source is None or "lambda" in source or ":=" in source
        self.values: dict[str, list[cst.BaseExpression | None]] = defaultdict(list)
        self.functions: dict[str, list[cst.FunctionDef]] = defaultdict(list)
        self.classes: dict[str, cst.ClassDef] = {}
        self.imports_inside_functions: list[cst.Import | cst.ImportFrom] = []
        # Rules ask about the same names at every use; a name bound in many functions of a long
        # file would otherwise cost uses x bindings. Queries run after the walk, when nothing
        # changes any more.
        self._constructors: dict[str, str | None] = {}
        self._callees: dict[str, frozenset[str]] = {}
        self._module: cst.Module | None = None
        self._scopes: FileScopes | None = None
        self._scoped_constructors: dict[tuple[int, str], str | None] = {}

    def walk(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Module):
            self._module = node
        super().walk(node)

    @property
    def scopes(self) -> FileScopes:
        """The file's scopes and the bindings each owns (one more walk, on first use)."""
        if self._scopes is None:
            assert self._module is not None, "Bindings.walk(module) first"
            self._scopes = FileScopes(self._module, inline_scopes=self._inline_scopes)
        return self._scopes

    # -- collection ---------------------------------------------------------------------------
    def _visit(self, node: cst.CSTNode) -> Any:
        if isinstance(node, cst.BaseExpression):
            return False  # every binding recorded here is a statement's (or a with item's)
        return super()._visit(node)

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
    def values_of(self, key: str, path: PathUp | None = None) -> Sequence[Value]:
        """The values bound to ``key``: where it is read (``path``), else anywhere in the file."""
        if path is None:
            return self.values.get(key, ())
        return self.scopes.values_at(key, path)

    def bound(self, key: str, path: PathUp | None = None) -> bool:
        """Whether ``key`` is bound (by anything: a parameter counts) where it is read."""
        return bool(self.values_of(key, path))

    def constructor_of(
        self, key: str, path: PathUp | None = None, among: Collection[str] | None = None
    ) -> str | None:
        """The qualified callee when every binding of ``key`` is a call of that same callee.

        With ``path`` (the ancestors of the use), only the bindings of the scope owning ``key``
        there count; without it, every binding in the file. With ``among``, a callee outside it
        answers None, and the scopes are not consulted when no binding in the file calls one of
        ``among`` (rules ask this of every call they see, so the cheap test comes first).
        """
        if path is not None:
            attr = key.partition(".")[2]
            if key not in self.values and attr not in self.values:
                return None  # bound nowhere in the file: no need for the scopes
            if among is not None and not (
                self.callees_of(key) & frozenset(among)
                or (attr and self.callees_of(attr) & frozenset(among))
            ):
                return None
            found = self._scoped_constructor(key, path)
            return found if among is None or found in among else None
        found = self._file_constructor(key)
        return found if among is None or found in among else None

    def _scoped_constructor(self, key: str, path: PathUp) -> str | None:
        values = self.scopes.values_at(key, path)
        cache_key = (id(values), key)
        if cache_key not in self._scoped_constructors:
            self._scoped_constructors[cache_key] = self._agreeing_callee(values)
        return self._scoped_constructors[cache_key]

    def _file_constructor(self, key: str) -> str | None:
        if key not in self._constructors:
            self._constructors[key] = self._agreeing_callee(self.values.get(key, ()))
        return self._constructors[key]

    def _agreeing_callee(self, values: Sequence[Value]) -> str | None:
        found: set[str] = set()
        for value in values:
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

    def callees_of(self, key: str) -> frozenset[str]:
        """Every resolvable callee ``key`` is bound to, anywhere in the file."""
        if key not in self._callees:
            self._callees[key] = frozenset(self._callees_of(key))
        return self._callees[key]

    def _callees_of(self, key: str) -> set[str]:
        out: set[str] = set()
        for value in self.values.get(key, ()):
            if isinstance(value, cst.Call):
                callee = self.names.resolve(value.func)
                if callee is not None:
                    out.add(callee)
        return out


def scope_bindings(scope: cst.CSTNode, name: str) -> list[cst.BaseExpression | None]:
    """What the local ``name`` is bound to inside one function (or module) body.

    Nested ``def``/``class``/``lambda`` bodies are other scopes and are skipped. Each binding gives
    its value, or None where the value is unknown (loop targets, unpacking, ``+=``, imports).
    """
    from torchlint.analysis.walk import walk

    out: list[cst.BaseExpression | None] = []
    body = scope.body if isinstance(scope, (cst.FunctionDef, cst.ClassDef)) else scope

    def bind(target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Name):
            if target.value == name:
                out.append(value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                bind(element.value, None)
        elif isinstance(target, cst.StarredElement):
            bind(target.value, None)

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            if node.name.value == name:
                out.append(None)
            return False
        if isinstance(node, cst.Lambda):
            return False
        if isinstance(node, cst.Assign):
            for target in node.targets:
                bind(target.target, node.value)
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            bind(node.target, node.value)
        elif isinstance(node, cst.AugAssign):
            bind(node.target, None)
        elif isinstance(node, cst.NamedExpr):
            bind(node.target, node.value)
        elif isinstance(node, cst.For):
            bind(node.target, None)
        elif isinstance(node, (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)):
            return False  # comprehension variables live in their own scope
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            bind(node.asname.name, node.item)
        elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(
            getattr(node, "names", None), cst.ImportStar
        ):
            for alias in node.names:  # type: ignore[union-attr]
                local = alias.asname.name if alias.asname is not None else alias.name
                while isinstance(local, cst.Attribute) and isinstance(node, cst.Import):
                    local = local.value
                if isinstance(local, cst.Attribute):
                    local = local.attr
                if isinstance(local, cst.Name) and local.value == name:
                    out.append(None)
        return True

    walk(body, visit)
    return out
