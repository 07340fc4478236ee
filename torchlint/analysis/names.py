"""Qualified-name resolution from a file's imports.

Full LibCST scope analysis costs several times the parse itself, so torchlint resolves names the
way a reader does: from the import statements of the file. ``th.load``, ``L`` after
``from torch import load as L`` and ``torch.load`` all resolve to ``torch.load``.
"""

from __future__ import annotations

import symtable
from collections.abc import Iterable

import libcst as cst

from torchlint.analysis.signatures import parameters

# Spellings that reach the same object through another module path.
CANONICAL = {
    "torch.nn.modules.loss.CrossEntropyLoss": "torch.nn.CrossEntropyLoss",
    "torch.nn.modules.loss.BCELoss": "torch.nn.BCELoss",
    "torch.nn.modules.loss.NLLLoss": "torch.nn.NLLLoss",
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "torch.nn.modules.Module": "torch.nn.Module",
    "torch.nn.parallel.data_parallel.DataParallel": "torch.nn.parallel.DataParallel",
    "torch.nn.DataParallel": "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.data_parallel.data_parallel": "torch.nn.parallel.data_parallel",
    "torch.serialization.load": "torch.load",
    "torch.serialization.save": "torch.save",
    "torch.functional.F": "torch.nn.functional",
    "torch.cuda.memory.empty_cache": "torch.cuda.empty_cache",
    "torch.nn.modules.activation.Softmax": "torch.nn.Softmax",
    "torch.nn.modules.activation.Sigmoid": "torch.nn.Sigmoid",
    "torch.nn.modules.activation.LogSoftmax": "torch.nn.LogSoftmax",
    "torch.nn.modules.loss.BCEWithLogitsLoss": "torch.nn.BCEWithLogitsLoss",
    "torch.nn.modules.Softmax": "torch.nn.Softmax",
    "torch.nn.modules.CrossEntropyLoss": "torch.nn.CrossEntropyLoss",
    "pytorch_lightning.LightningModule": "lightning.pytorch.LightningModule",
    "lightning.LightningModule": "lightning.pytorch.LightningModule",
}


def attribute_chain(node: cst.BaseExpression) -> tuple[cst.Name, list[str]] | None:
    """The root name of a chain of names and attributes and the attributes after it, in order
    (``a`` and ``["b", "c"]`` for ``a.b.c``); None for anything else."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.reverse()
    return node, parts


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    chain = attribute_chain(node)
    if chain is None:
        return None
    root, parts = chain
    return ".".join([root.value, *parts])


def _module_name(node: cst.BaseExpression | None) -> str | None:
    if node is None:
        return None
    return dotted_name(node)


class ImportMap:
    """Maps the local names a file binds by import to the qualified names they stand for."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.star_modules: list[str] = []
        # Local names bound by ``from . import x`` / ``from .m import x``: the user's own package.
        self.relative: set[str] = set()
        # Set by :meth:`scope_module`: names inside functions are then resolved through their
        # local bindings (computed on first use, once per file).
        self._module: cst.Module | None = None
        self._local: dict[int, str | None] | None = None
        self._source: str | None = None

    def scope_module(self, module: cst.Module, source: str | None = None) -> None:
        """Honour local bindings (parameters, assignments, local imports) of ``module``'s scopes.

        With ``source`` (the module's text), CPython's symbol table (fast, in C) first tells
        whether any function, class or comprehension binds an imported name or imports one; in
        most files none does, and the walk over every scope (a tenth of a lint) is skipped.
        """
        self._module = module
        self._source = source
        self._local = None

    def add(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _module_name(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = full
                else:
                    top = full.split(".", 1)[0]
                    self.aliases[top] = top
            return
        if node.relative:
            # Relative imports point into the user's own package: never resolved, but remembered.
            if not isinstance(node.names, cst.ImportStar):
                for alias in node.names:
                    bound = alias.asname.name if alias.asname is not None else alias.name
                    if isinstance(bound, cst.Name):
                        self.relative.add(bound.value)
            return
        module = _module_name(node.module)
        if module is None:
            return
        if isinstance(node.names, cst.ImportStar):
            self.star_modules.append(module)
            return
        for alias in node.names:
            imported = _module_name(alias.name)
            if imported is None:
                continue
            local = imported
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.aliases[local] = f"{module}.{imported}"

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The qualified name of a name or attribute chain, when it comes from an import."""
        chain = attribute_chain(node)
        if chain is None:
            return None
        root, parts = chain
        local = self._local
        if local is None and self._module is not None:
            if self._source is not None and not may_rebind(self._source, self.aliases.keys()):
                local = self._local = {}
            else:
                local = self._local = local_resolutions(self._module)
        if local is not None and id(root) in local:
            target = local[id(root)]
        else:
            target = self.aliases.get(root.value)
        if target is None:
            return None
        full = ".".join([target, *parts]) if parts else target
        return canonical(full)

    def imports_from(self, prefix: str) -> bool:
        return any(v == prefix or v.startswith(prefix + ".") for v in self.aliases.values())


def canonical(name: str) -> str:
    name = CANONICAL.get(name, name)
    # torch.nn.functional is reachable as torch.functional.F too; normalise the common prefix.
    if name.startswith("torch.functional.F."):
        name = "torch.nn.functional." + name[len("torch.functional.F.") :]
    return name


def collect_module_imports(module: cst.Module, into: ImportMap) -> None:
    """Imports at module level, including those under top-level ``if``/``try``/``with``."""
    pending: list[cst.CSTNode] = list(module.body)
    while pending:
        stmt = pending.pop(0)
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    into.add(small)
        else:
            pending[:0] = _nested_statements(stmt)


def _block_statements(block: cst.BaseSuite) -> list[cst.CSTNode]:
    return list(block.body) if isinstance(block, cst.IndentedBlock) else []


def _nested_statements(stmt: cst.CSTNode) -> list[cst.CSTNode]:
    """Statements directly under a top-level if/try/with (never inside a def or class)."""
    out: list[cst.CSTNode] = []
    if isinstance(stmt, cst.If):
        out += _block_statements(stmt.body)
        if isinstance(stmt.orelse, cst.If):
            out.append(stmt.orelse)
        elif isinstance(stmt.orelse, cst.Else):
            out += _block_statements(stmt.orelse.body)
    elif isinstance(stmt, (cst.Try, cst.TryStar)):
        out += _block_statements(stmt.body)
        for handler in stmt.handlers:
            out += _block_statements(handler.body)
        for extra in (stmt.orelse, stmt.finalbody):
            if extra is not None:
                out += _block_statements(extra.body)
    elif isinstance(stmt, cst.With):
        out += _block_statements(stmt.body)
    return out


# -- local scopes ---------------------------------------------------------------------------------
#
# Module-level imports say what a name means at module level. Inside a function, lambda or
# comprehension a name bound there (a parameter, an assignment, a ``for`` target, a local import of
# something else, ...) shadows them, and a function's own imports resolve inside it. One linear walk
# over the file finds, for every name read inside such a scope, whether a local binding decides
# what it is; names it does not record keep their module-level meaning.

_SHADOWED = None
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class _Scope:
    __slots__ = ("parent", "kind", "bound", "imports", "globals", "nonlocals")

    def __init__(self, parent: _Scope | None, kind: str) -> None:
        self.parent = parent
        self.kind = kind  # "module", "function", "class", "comprehension"
        self.bound: set[str] = set()
        self.imports: dict[str, str | None] = {}
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()

    def bind(self, name: str) -> None:
        if self.kind != "module":
            self.bound.add(name)

    def add_import(self, node: cst.Import | cst.ImportFrom) -> None:
        if self.kind == "module":
            return
        local = ImportMap()
        local.add(node)
        for name, target in local.aliases.items():
            self.imports[name] = target
        for name in local.relative:
            self.imports[name] = _SHADOWED
        if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            # Names an import binds that resolve to nothing we know (``from x import (a.b)``).
            for alias in node.names:
                bound = alias.asname.name if alias.asname is not None else alias.name
                if isinstance(bound, cst.Name) and bound.value not in self.imports:
                    self.imports[bound.value] = _SHADOWED

    def binding_scope(self) -> _Scope:
        """Where a walrus target binds: the nearest enclosing non-comprehension scope."""
        scope: _Scope = self
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        return scope


def _bind_target(scope: _Scope, target: cst.CSTNode | None) -> None:
    pending = [target]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Name):
            scope.bind(node.value)
        elif isinstance(node, (cst.Tuple, cst.List)):
            pending.extend(e.value for e in node.elements)
        elif isinstance(node, cst.StarredElement):
            pending.append(node.value)


def may_rebind(source: str, imported: Iterable[str]) -> bool:
    """Whether a scope other than the module's binds one of the ``imported`` names or imports a
    name: only then can a local binding change what a name means. True when unsure."""
    try:
        table = symtable.symtable(source, "<torchlint>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # e.g. syntax LibCST accepts and this CPython does not: walk the scopes
    names = set(imported)
    pending = list(table.get_children())
    while pending:
        scope = pending.pop()
        for symbol in scope.get_symbols():
            if symbol.is_imported():
                return True
            if symbol.get_name() in names and (
                symbol.is_assigned() or symbol.is_parameter() or symbol.is_local()
            ):
                return True
        pending.extend(scope.get_children())
    return False


def local_resolutions(module: cst.Module) -> dict[int, str | None]:
    """``id(name node) -> qualified name`` (None: shadowed) for names a local binding decides."""
    from torchlint.analysis.walk import children

    root = _Scope(None, "module")
    uses: list[tuple[cst.Name, _Scope]] = []
    pending: list[tuple[cst.CSTNode, _Scope]] = [(module, root)]
    pop, push = pending.pop, pending.append
    while pending:
        node, scope = pop()
        if isinstance(node, cst.Name):
            if scope.kind != "module":
                uses.append((node, scope))
            continue
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            inner = _Scope(scope, "function")
            if isinstance(node, cst.FunctionDef):
                scope.bind(node.name.value)
                for decorator in node.decorators:
                    push((decorator, scope))
                if node.returns is not None:
                    push((node.returns, scope))
            for param in parameters(node.params):
                inner.bind(param.name.value)
                if param.default is not None:
                    push((param.default, scope))
                if param.annotation is not None:
                    push((param.annotation, scope))
            push((node.body, inner))
            continue
        if isinstance(node, cst.ClassDef):
            scope.bind(node.name.value)
            for decorator in node.decorators:
                push((decorator, scope))
            for arg in (*node.bases, *node.keywords):
                push((arg, scope))
            push((node.body, _Scope(scope, "class")))
            continue
        if isinstance(node, _COMPREHENSIONS):
            inner = _Scope(scope, "comprehension")
            first = node.for_in
            push((first.iter, scope))
            comp: cst.CompFor | None = first
            while comp is not None:
                _bind_target(inner, comp.target)
                push((comp.target, inner))
                if comp is not first:
                    push((comp.iter, inner))
                for condition in comp.ifs:
                    push((condition, inner))
                comp = comp.inner_for_in
            if isinstance(node, cst.DictComp):
                push((node.key, inner))
                push((node.value, inner))
            else:
                push((node.elt, inner))
            continue
        if scope.kind != "module":
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    _bind_target(scope, target.target)
            elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For, cst.Del)):
                _bind_target(scope, node.target)
            elif isinstance(node, cst.WithItem):
                if node.asname is not None:
                    _bind_target(scope, node.asname.name)
            elif isinstance(node, cst.ExceptHandler):
                if node.name is not None:
                    _bind_target(scope, node.name.name)
            elif isinstance(node, cst.ExceptStarHandler):
                if node.name is not None:
                    _bind_target(scope, node.name.name)
            elif isinstance(node, (cst.Import, cst.ImportFrom)):
                scope.add_import(node)
            elif isinstance(node, cst.Global):
                scope.globals.update(item.name.value for item in node.names)
            elif isinstance(node, cst.Nonlocal):
                scope.nonlocals.update(item.name.value for item in node.names)
            elif isinstance(node, cst.NamedExpr):
                _bind_target(scope.binding_scope(), node.target)
            elif isinstance(node, (cst.MatchAs, cst.MatchStar)):
                if node.name is not None:
                    scope.bind(node.name.value)
            elif isinstance(node, cst.MatchMapping):
                if node.rest is not None:
                    scope.bind(node.rest.value)
        for child in reversed(children(node)):
            push((child, scope))
    out: dict[int, str | None] = {}
    for name, scope in uses:
        found, bound_to = _lookup(scope, name.value)
        if found:
            out[id(name)] = bound_to
    return out


def _lookup(scope: _Scope | None, name: str) -> tuple[bool, str | None]:
    """(decided locally, qualified name or None) for ``name`` read in ``scope``."""
    while scope is not None and scope.kind != "module":
        # A class body's names are not visible in the functions nested in it; they do decide
        # what a name means in the class body itself only, which module-level resolution keeps.
        if scope.kind == "class":
            scope = scope.parent
            continue
        if name in scope.globals:
            return False, None
        if name not in scope.nonlocals:
            if name in scope.bound:
                return True, _SHADOWED
            if name in scope.imports:
                return True, scope.imports[name]
        scope = scope.parent
    return False, None
