"""Scopes of a file: which function, class or module each binding belongs to.

What a name holds depends on where it is read. ``criterion = nn.CrossEntropyLoss()`` in one function
says nothing about ``criterion`` in another; ``self.loss_fn`` set in one class says nothing about the
``self.loss_fn`` of an unrelated class. One walk over the file records every binding (``x = ...``,
``self.x = ...``, ``x[i] = ...``) together with the scope that owns it, following Python's rules:

- a plain name belongs to the innermost function that binds it (a parameter, an assignment, an
  import, a ``for``/``with``/``except`` target, a nested ``def``), else to the module (class bodies
  are not visible from the methods nested in them);
- ``x.attr`` and ``x[i]`` belong where ``x`` does;
- ``self.attr`` in a method (``self`` being its first parameter) belongs to the class, and a class
  answers for the classes it derives from and the classes deriving from it in the same file (a base
  class's method reads what a subclass's ``__init__`` set).

Queries take the ancestors of the use, as ``FileContext.path_up()`` gives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.analysis.signatures import parameters
from torchlint.analysis.walk import Walker

PathUp = Sequence[tuple[cst.CSTNode, cst.CSTNode]]
Value = cst.BaseExpression | None
ScopeNode = cst.Module | cst.FunctionDef | cst.ClassDef | cst.Lambda


class Scope:
    """One function, lambda, class or module body, and the bindings that belong to it."""

    __slots__ = ("node", "kind", "parent", "locals", "outer", "values", "self_name")

    def __init__(self, node: ScopeNode, parent: Scope | None) -> None:
        self.node = node
        self.kind = (
            "module"
            if isinstance(node, cst.Module)
            else "class"
            if isinstance(node, cst.ClassDef)
            else "function"
        )
        self.parent = parent
        self.locals: set[str] = set()
        # Names declared ``global`` / ``nonlocal``: bound elsewhere.
        self.outer: set[str] = set()
        # Binding key (``x``, ``self.x``, ``x.y[]``) -> the values bound to it in this scope (None
        # where the value is unknown: unpacking, ``+=``, loop targets, parameters).
        self.values: dict[str, list[Value]] = {}
        # A method's first parameter (``self``), when the scope is a function directly in a class.
        self.self_name: str | None = None

    def bind(self, name: str) -> None:
        if name not in self.outer:
            self.locals.add(name)


def key_root(key: str) -> str:
    """The variable a binding key starts from: ``self`` for ``self.a.b``, ``x`` for ``x[]``."""
    return key.split(".", 1)[0].removesuffix("[]")


def _key(node: cst.BaseExpression) -> str | None:
    dotted = dotted_name(node)
    if dotted is not None:
        return dotted
    if isinstance(node, cst.Subscript):
        base = _key(node.value)
        return None if base is None else base + "[]"
    return None


class FileScopes(Walker):
    """Every scope of a file with the bindings it owns: one walk, then lookups."""

    def __init__(self, module: cst.Module, *, inline_scopes: bool = True) -> None:
        """``inline_scopes=False``: the file has no lambda and no walrus (``:=``), so no scope or
        binding is inside an expression, and the walk does not enter them."""
        super().__init__()
        self._enter_expressions = inline_scopes
        self.module_scope = Scope(module, None)
        self._scopes: dict[int, Scope] = {id(module): self.module_scope}
        self._stack: list[Scope] = [self.module_scope]
        # (scope the statement runs in, key, value), resolved once every scope's locals are known.
        self._raw: list[tuple[Scope, str, Value]] = []
        self._class_family: dict[int, list[Scope]] = {}
        self._loop_scopes: dict[int, Scope] = {}
        self._family_values: dict[tuple[int, str], list[Value]] = {}
        self.classes: dict[str, list[cst.ClassDef]] = {}
        self.walk(module)
        for scope, key, value in self._raw:
            home, home_key = self._home(key, scope)
            home.values.setdefault(home_key, []).append(value)
        self._raw = []

    # -- collection ---------------------------------------------------------------------------
    def _visit(self, node: cst.CSTNode) -> Any:
        if not self._enter_expressions and isinstance(node, cst.BaseExpression):
            return False
        return super()._visit(node)

    @property
    def _current(self) -> Scope:
        return self._stack[-1]

    def _enter(self, node: ScopeNode) -> Scope:
        scope = Scope(node, self._current)
        self._scopes[id(node)] = scope
        self._stack.append(scope)
        return scope

    def _record(self, target: cst.BaseExpression, value: Value) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._record(element.value, None)  # unpacking hides which value goes where
            return
        if isinstance(target, cst.StarredElement):
            self._record(target.value, None)
            return
        if isinstance(target, cst.Name):
            self._current.bind(target.value)
        key = _key(target)
        if key is not None:
            self._raw.append((self._current, key, value))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._current.bind(node.name.value)
        self._raw.append((self._current, node.name.value, None))
        outer = self._current
        scope = self._enter(node)
        params = parameters(node.params)
        for param in params:
            scope.bind(param.name.value)
            scope.values.setdefault(param.name.value, []).append(None)
        positional = [*node.params.posonly_params, *node.params.params]
        if outer.kind == "class" and positional:
            if not any(_decorator_name(d) == "staticmethod" for d in node.decorators):
                scope.self_name = positional[0].name.value

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        scope = self._enter(node)
        for param in parameters(node.params):
            scope.bind(param.name.value)
            scope.values.setdefault(param.name.value, []).append(None)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._current.bind(node.name.value)
        self._raw.append((self._current, node.name.value, None))
        self.classes.setdefault(node.name.value, []).append(node)
        self._enter(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self._stack.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._record(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._record(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._record(node.target, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._record(node.target, node.value)

    def visit_For(self, node: cst.For) -> None:
        self._loop_scopes[id(node)] = self._current
        self._record(node.target, None)

    def visit_While(self, node: cst.While) -> None:
        self._loop_scopes[id(node)] = self._current

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._record(node.asname.name, node.item)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._record(node.name.name, None)

    def visit_Global(self, node: cst.Global) -> None:
        self._current.outer.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._current.outer.update(item.name.value for item in node.names)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            local: cst.BaseExpression = (
                alias.asname.name if alias.asname is not None else alias.name
            )
            while isinstance(local, cst.Attribute):
                local = local.value
            if isinstance(local, cst.Name):
                self._record(local, None)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            local = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(local, cst.Name):
                self._record(local, None)

    # -- where a key lives --------------------------------------------------------------------
    def _home(self, key: str, scope: Scope) -> tuple[Scope, str]:
        """The scope that owns ``key`` read or written in ``scope``, and the key there."""
        root = key_root(key)
        current: Scope | None = scope
        first = True
        while current is not None and current.kind != "module":
            if current.kind == "class" and not first:
                current = current.parent  # class bodies are not visible from nested functions
                continue
            first = False
            if root in current.outer:
                if _is_global(current, root):
                    return self.module_scope, key
            elif root in current.locals:
                if (
                    current.self_name == root
                    and key != root
                    and current.parent is not None
                    and current.parent.kind == "class"
                ):
                    return current.parent, "self" + key[len(root) :]
                return current, key
            current = current.parent
        return self.module_scope, key

    def scope_at(self, path: PathUp) -> Scope:
        """The scope a node runs in, from its ancestors (nearest first)."""
        for ancestor, child in path:
            if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                if child is ancestor.body and id(ancestor) in self._scopes:
                    return self._scopes[id(ancestor)]
        return self.module_scope

    def scope_of(self, node: ScopeNode) -> Scope | None:
        return self._scopes.get(id(node))

    def scope_of_loop(self, loop: cst.For | cst.While) -> Scope:
        """The scope a ``for`` or ``while`` loop runs in."""
        return self._loop_scopes.get(id(loop), self.module_scope)

    # -- queries ------------------------------------------------------------------------------
    def values_at(self, key: str, path: PathUp) -> Sequence[Value]:
        """What ``key`` may hold where it is read (its ancestors are ``path``): every value bound to
        it in the scope that owns it (for ``self.attr``: the class family). Empty when unbound.

        The same sequence object answers the same key of the same scope (callers cache by it)."""
        home, home_key = self._home(key, self.scope_at(path))
        if home.kind != "class":
            return home.values.get(home_key, ())
        cached = self._family_values.get((id(home), home_key))
        if cached is not None:
            return cached
        out: list[Value] = []
        attr = home_key[len("self.") :]
        for cls in self.class_family(home):
            out.extend(cls.values.get(home_key, ()))
            if "." not in attr and "[" not in attr:
                out.extend(cls.values.get(attr, ()))  # a class attribute: ``loss_fn = ...``
        self._family_values[(id(home), home_key)] = out
        return out

    def class_family(self, scope: Scope) -> list[Scope]:
        """A class with the classes of this file it derives from and those deriving from it."""
        found = self._class_family.get(id(scope))
        if found is None:
            bases = list(self._ancestors(scope, set()))
            found = [scope, *bases, *self._descendants(scope)]
            self._class_family[id(scope)] = found
        return found

    def _bases(self, scope: Scope) -> Iterator[Scope]:
        node = scope.node
        assert isinstance(node, cst.ClassDef)
        for base in node.bases:
            if base.keyword is None and isinstance(base.value, cst.Name):
                for cls in self.classes.get(base.value.value, ()):
                    if cls is not node:
                        found = self._scopes.get(id(cls))
                        if found is not None:
                            yield found

    def _ancestors(self, scope: Scope, seen: set[int]) -> Iterator[Scope]:
        for base in self._bases(scope):
            if id(base) not in seen:
                seen.add(id(base))
                yield base
                yield from self._ancestors(base, seen)

    def _descendants(self, scope: Scope) -> list[Scope]:
        out: list[Scope] = []
        seen = {id(scope)}
        for classes in self.classes.values():
            for cls in classes:
                candidate = self._scopes.get(id(cls))
                if candidate is None or id(candidate) in seen:
                    continue
                if any(a is scope for a in self._ancestors(candidate, set())):
                    seen.add(id(candidate))
                    out.append(candidate)
        return out


def _is_global(scope: Scope, name: str) -> bool:
    """``global name`` (module) rather than ``nonlocal name`` (an enclosing function)."""
    body = scope.node.body if isinstance(scope.node, (cst.FunctionDef, cst.ClassDef)) else None
    if body is None:
        return True
    finder = _GlobalFinder(name)
    finder.walk(body)
    return finder.found


class _GlobalFinder(Walker):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found = False

    def visit_Global(self, node: cst.Global) -> None:
        if any(item.name.value == self.name for item in node.names):
            self.found = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def _decorator_name(decorator: cst.Decorator) -> str | None:
    expr = decorator.decorator
    if isinstance(expr, cst.Call):
        expr = expr.func
    dotted = dotted_name(expr)
    return None if dotted is None else dotted.rsplit(".", 1)[-1]
