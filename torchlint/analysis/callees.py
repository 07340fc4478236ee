"""Call sites to function summaries: what ``self(x)``, ``self.helper()``, ``helper(opt)`` or
``utils.seed_everything()`` runs, for the rules that check what a call does.

The file's own functions and classes come from its summary (:mod:`torchlint.analysis.summaries`);
functions and classes imported from the project's other files come from the project index
(:mod:`torchlint.project_index`) when the run has one. A method is looked up on the class holding
the call and then on its bases, in this file or in the project. Anything else (a local function
value, a parameter, a name the file rebinds) answers None: unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.names import ImportMap, dotted_name
from torchlint.analysis.scopes import FileScopes, PathUp, Scope
from torchlint.analysis.summaries import (
    ClassSummary,
    FunctionSummary,
    ModuleSummary,
    inherited_method,
    summarize_source,
)

if TYPE_CHECKING:
    from torchlint.project_index import ProjectIndex

# How far a chain of helpers calling helpers is followed.
_MAX_DEPTH = 4


class CallSummaries:
    """Resolves one file's call sites to the summaries of the functions they call."""

    def __init__(
        self,
        module: cst.Module,
        source: str | None,
        scopes: FileScopes,
        project: ProjectIndex | None = None,
        path: Path | None = None,
        names: ImportMap | None = None,
    ) -> None:
        self.project = project
        self._names = names
        self._scopes = scopes
        self._module = module
        self._source = source
        self._path = path
        self._own: ModuleSummary | None = None

    @property
    def own(self) -> ModuleSummary:
        """This file's summary, read on first use (most calls are decided without it)."""
        if self._own is None:
            text = self._source if self._source is not None else self._module.code
            found: ModuleSummary | None = None
            if self.project is not None and self._path is not None:
                found = self.project.summary_of(self._path, text)
            self._own = found if found is not None else summarize_source(text)
        return self._own

    # -- functions ----------------------------------------------------------------------------
    def function_at(self, call: cst.Call, path: PathUp) -> FunctionSummary | None:
        """The summary of what ``call`` runs (its ancestors are ``path``), or None."""
        return self.function_in(call, self._scopes.scope_at(path))

    def function_in(self, call: cst.Call, scope: Scope) -> FunctionSummary | None:
        """The summary of what ``call``, made in ``scope``, runs; or None."""
        func = call.func
        dotted = dotted_name(func)
        if dotted is None:
            return None
        root = dotted.split(".", 1)[0]
        method = self._enclosing_method(scope, root)
        if method is not None:
            self_name, cls, class_scope = method
            if isinstance(func, cst.Name) and func.value == self_name:
                return self.method_of(cls, "forward")  # ``self(x)`` runs ``forward``
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value == self_name
                and not self._assigned_attribute(func.attr.value, class_scope)
            ):
                return self.method_of(cls, func.attr.value)
        if self._locally_bound(root, scope):
            return None
        if root not in self._scopes.module_scope.values:
            return None  # a builtin or an unknown global: neither this file's nor an import
        if "." not in dotted and self._defined_here(dotted) and dotted in self.own.functions:
            return self.own.functions[dotted]
        if self.project is None:
            return None
        qualified = self._imported(dotted)
        if qualified is None:
            return None
        found = self.project.lookup(qualified)
        return found if isinstance(found, FunctionSummary) else None

    def returns(self, call: cst.Call, path: PathUp) -> str | None:
        """What the called function returns ("softmax", "sigmoid", "log_softmax"), or None."""
        found = self.function_at(call, path)
        return None if found is None else found.returns

    def seeds(self, function: FunctionSummary, depth: int = 0) -> set[str]:
        """The generators a call of ``function`` seeds, through the helpers it calls (of this
        file, or of the project)."""
        out = set(function.seeds)
        if depth >= _MAX_DEPTH:
            return out
        for callee in function.calls:
            found: object = self.own.functions.get(self._own_name(callee))
            if found is None and self.project is not None:
                found = self.project.lookup(callee)
            if isinstance(found, FunctionSummary) and found is not function:
                out |= self.seeds(found, depth + 1)
            elif found is None and _named_like_seeding(callee):
                out.add("unknown")  # a helper we cannot see into, named like one that seeds
        return out

    def _own_name(self, qualified: str) -> str:
        """``pkg.mod.helper`` as ``helper`` when ``pkg.mod`` is this file."""
        prefix = self.own.module + "." if self.own.module else ""
        return qualified[len(prefix) :] if prefix and qualified.startswith(prefix) else qualified

    def method_of(self, cls: ClassSummary, name: str) -> FunctionSummary | None:
        """``cls.name``: the class's own method or one inherited from a base (file or project)."""
        return inherited_method(cls, self.own, name, self._class)

    def _class(self, base: str, where: ModuleSummary) -> tuple[ClassSummary, ModuleSummary] | None:
        if "." not in base and base in where.classes:
            return where.classes[base], where
        if self.project is None:
            return None
        return self.project.lookup_class(base)

    # -- classes ------------------------------------------------------------------------------
    def base_is_module(self, base: cst.BaseExpression) -> bool | None:
        """Whether a base class expression names a project class deriving from ``nn.Module``:
        True, False, or None (not a project class, or unknown)."""
        if self.project is None:
            return None
        dotted = dotted_name(base)
        if dotted is None:
            return None
        qualified = self._imported(dotted)
        if qualified is None:
            return None
        found = self.project.lookup_class(qualified)
        if found is None:
            return None
        return self.project.is_module_class(*found)

    def project_class(self, dotted: str) -> tuple[ClassSummary, ModuleSummary] | None:
        """The project class an imported name (``BaseModel``, ``models.Net``) stands for."""
        qualified = self._imported(dotted)
        if qualified is None or self.project is None:
            return None
        return self.project.lookup_class(qualified)

    # -- helpers ------------------------------------------------------------------------------
    def _imported(self, dotted: str) -> str | None:
        """``utils.seed_all`` as the qualified name its module-level import gives it."""
        root, _, rest = dotted.partition(".")
        if self._names is not None and root not in self._names.relative:
            # An absolute import says it without reading the file's summary.
            target = self._names.aliases.get(root)
        else:
            target = self.own.imports.get(root)  # relative imports made absolute
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def _enclosing_method(self, scope: Scope, root: str) -> tuple[str, ClassSummary, Scope] | None:
        """(``self``'s name, the class summary, the class scope) of the method holding ``scope``
        (through nested functions) when ``root`` is its ``self``; None otherwise."""
        current: Scope | None = scope
        while current is not None and current.kind == "function":
            parent = current.parent
            if parent is not None and parent.kind == "class":
                node = parent.node
                if current.self_name != root or parent.parent is not self._scopes.module_scope:
                    return None
                assert isinstance(node, cst.ClassDef)
                cls = self.own.classes.get(node.name.value)
                return None if cls is None else (current.self_name, cls, parent)
            current = parent
        return None

    def _locally_bound(self, name: str, scope: Scope) -> bool:
        """``name`` is bound in a function enclosing ``scope`` (a parameter, a local, a def)."""
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if current.kind != "class" or current is scope:
                if name in current.locals and name not in current.outer:
                    return True
            current = current.parent
        return False

    def _assigned_attribute(self, attr: str, class_scope: Scope) -> bool:
        """``self.attr = ...`` somewhere in the class family: an attribute, not the method."""
        family = self._scopes.class_family(class_scope)
        return any(f"self.{attr}" in cls.values for cls in family)

    def _defined_here(self, name: str) -> bool:
        """Every module-level binding of ``name`` is its ``def``."""
        values = self._scopes.module_scope.values.get(name, ())
        return len(values) == 1 and values[0] is None


def _named_like_seeding(qualified: str) -> bool:
    """``seed_everything``, ``set_seed``, a framework's ``default_setup``: not numpy's or
    Python's own generators, nor ``get_seed``-like readers."""
    if qualified.startswith(("numpy.", "random.")):
        return False
    last = qualified.rsplit(".", 1)[-1].lower()
    if last.startswith(("get", "generate", "make", "new", "read", "parse", "load")):
        return False
    return "seed" in last or "setup" in last
