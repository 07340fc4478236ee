"""Straight-line dataflow: which assignment of a local name reaches a use.

Rules ask "what was ``probs`` assigned before it was passed here?" (softmax into cross-entropy,
sigmoid into BCE, ...). The answer is deliberately conservative: walk back from the use through the
preceding statements of its block, then of the enclosing blocks, and return the first plain
assignment ``name = value`` found. Anything that makes the flow uncertain answers "unknown"
(``None``):

- a preceding compound statement (``if``/``for``/``while``/``try``/``match``) that binds the name
  anywhere inside it (a ``with`` body runs once, straight through: it is scanned like a block);
- tuple unpacking, augmented assignment, ``del``, imports, walrus targets, ``global``/``nonlocal``,
  ``for`` targets, ``with ... as``, ``except ... as``, match captures binding the name;
- a loop around the use that binds the name anywhere (its next iteration would see that binding);
- reaching the top of a function, lambda or class body (a parameter, a closure or a global).

The walk takes the ancestors of the use as ``FileContext.path_up()`` gives them:
``[(ancestor, child_on_the_way_down), ...]``, nearest ancestor first.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from torchlint.analysis.walk import PathUp, Walker

COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_Loop = (cst.For, cst.While)
_TryLike = (cst.Try, cst.TryStar)


@dataclass
class Reaching:
    """The assignment of a name that reaches a use, in straight-line flow."""

    name: str
    value: cst.BaseExpression  # the assigned expression
    statement: cst.BaseSmallStatement  # the ``Assign`` / ``AnnAssign`` holding it
    # The path up from ``statement`` (same shape as ``FileContext.path_up()``): pass it back to
    # :func:`reaching_assignment` to follow a chain of assignments.
    path: list[tuple[cst.CSTNode, cst.CSTNode]]
    # What runs between the assignment and the use: statements, loop statements crossed (their
    # back edge), ``if`` tests, ``with`` items; and comprehension targets around the use.
    between: list[cst.CSTNode] = field(default_factory=list)
    between_targets: list[cst.BaseExpression] = field(default_factory=list)
    # False when the assignment reaches the use through compound statements
    # (:func:`torchlint.analysis.reaching.reaching_assignments`): ``between`` is then not known,
    # and ``rebinds`` answers True for any name.
    straight: bool = True

    def rebinds(self, other: str) -> bool:
        """Whether ``other`` may be bound between the assignment and the use."""
        if not self.straight:
            return True
        return any(binds(node, other) for node in self.between) or any(
            target_binds(target, other) for target in self.between_targets
        )


def path_from_stack(stack: Sequence[cst.CSTNode]) -> list[tuple[cst.CSTNode, cst.CSTNode]]:
    """``FileContext.path_up()`` computed from an explicit ancestor stack (root first)."""
    return [(stack[i - 1], stack[i]) for i in range(len(stack) - 1, 0, -1)]


def reaching_value(path: PathUp, name: str) -> cst.BaseExpression | None:
    """The value assigned to ``name`` by its reaching assignment, or None when unknown."""
    found = reaching_assignment(path, name)
    return None if found is None else found.value


def reaching_assignment(path: PathUp, name: str) -> Reaching | None:
    """The reaching ``name = value`` for a use whose ancestors are ``path``, or None (unknown)."""
    between: list[cst.CSTNode] = []
    targets: list[cst.BaseExpression] = []
    path = list(path)
    for index, (ancestor, child) in enumerate(path):
        outer = path[index + 1 :]
        if isinstance(
            ancestor,
            (cst.Module, cst.IndentedBlock, cst.SimpleStatementLine, cst.SimpleStatementSuite),
        ):
            body = list(ancestor.body)
            position = _index(body, child)
            if position is None:
                return None
            for statement in reversed(body[:position]):
                result = _scan_statement(statement, ancestor, name, outer, between)
                if result is not None:
                    if isinstance(result, Reaching):
                        result.between_targets = targets
                        return result
                    return None  # bound in a way we cannot follow
        elif isinstance(ancestor, (cst.FunctionDef, cst.ClassDef)):
            if child is ancestor.body:
                return None  # a parameter, a closure variable or a global
        elif isinstance(ancestor, cst.Lambda):
            if child is ancestor.body:
                return None
        elif isinstance(ancestor, _Loop):
            if isinstance(ancestor, cst.For) and child is ancestor.iter:
                continue  # evaluated once, before the loop
            if binds(ancestor, name):
                return None
            between.append(ancestor)
        elif isinstance(ancestor, cst.If):
            if child is not ancestor.test:
                if binds(ancestor.test, name):
                    return None
                between.append(ancestor.test)
        elif isinstance(ancestor, cst.With):
            if child is ancestor.body:
                for item in ancestor.items:
                    if binds(item, name):
                        return None
                    between.append(item)
        elif isinstance(ancestor, _TryLike):
            if child is not ancestor.body:
                if binds(ancestor, name):
                    return None
                between.append(ancestor)
        elif isinstance(ancestor, cst.Match):
            if binds(ancestor, name):
                return None
            between.append(ancestor)
        elif isinstance(ancestor, COMPREHENSIONS):
            for comp in comprehension_fors(ancestor):
                if target_binds(comp.target, name):
                    return None
                targets.append(comp.target)
    return None


def _index(body: list[cst.CSTNode], child: cst.CSTNode) -> int | None:
    for i, statement in enumerate(body):
        if statement is child:
            return i
    return None


_UNKNOWN = object()


def _scan_statement(
    statement: cst.CSTNode,
    container: cst.CSTNode,
    name: str,
    outer: list[tuple[cst.CSTNode, cst.CSTNode]],
    between: list[cst.CSTNode],
) -> Reaching | object | None:
    """A Reaching when ``statement`` assigns ``name`` plainly, _UNKNOWN when it binds it some other
    way, None when it does not bind it (and is then recorded in ``between``)."""
    if isinstance(statement, cst.SimpleStatementLine):
        for small in reversed(list(statement.body)):
            value = plain_value(small, name)
            if value is not None:
                path = [(statement, small), (container, statement), *outer]
                return Reaching(name, value, small, path, list(between))
            if binds(small, name):
                return _UNKNOWN
            between.append(small)
        return None
    if isinstance(statement, cst.BaseSmallStatement):
        # A small statement of the same line (``a = f(x); loss(a)``).
        value = plain_value(statement, name)
        if value is not None:
            path = [(container, statement), *outer]
            return Reaching(name, value, statement, path, list(between))
        if binds(statement, name):
            return _UNKNOWN
        between.append(statement)
        return None
    if isinstance(statement, cst.With) and isinstance(statement.body, cst.IndentedBlock):
        # A ``with`` body runs once, straight through, after its items: scan it like a block.
        inner = [(container, statement), *outer]
        body = statement.body
        for nested in reversed(list(body.body)):
            found = _scan_statement(nested, body, name, [(statement, body), *inner], between)
            if found is not None:
                return found
        for item in reversed(list(statement.items)):
            if binds(item, name):
                return _UNKNOWN
            between.append(item)
        return None
    if binds(statement, name):
        return _UNKNOWN
    between.append(statement)
    return None


def plain_value(small: cst.CSTNode, name: str) -> cst.BaseExpression | None:
    """The value ``small`` assigns to the plain name ``name`` (``name = v``, ``name: T = v``)."""
    if isinstance(small, cst.Assign):
        for target in small.targets:
            if isinstance(target.target, cst.Name) and target.target.value == name:
                return small.value
    elif isinstance(small, cst.AnnAssign):
        if (
            small.value is not None
            and isinstance(small.target, cst.Name)
            and small.target.value == name
        ):
            return small.value
    return None


def comprehension_fors(node: cst.CSTNode) -> list[cst.CompFor]:
    """The ``for ... in ...`` clauses of a comprehension, outermost first."""
    out: list[cst.CompFor] = []
    comp: cst.CompFor | None = getattr(node, "for_in", None)
    while comp is not None:
        out.append(comp)
        comp = comp.inner_for_in
    return out


# -- binding queries ----------------------------------------------------------------------------


def target_binds(target: cst.BaseExpression, name: str) -> bool:
    """Whether assigning to ``target`` (a name, tuple, list or starred element) binds ``name``.

    ``x.attr = ...`` and ``x[i] = ...`` mutate ``x`` but do not rebind it.
    """
    if isinstance(target, cst.Name):
        return target.value == name
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(target_binds(element.value, name) for element in target.elements)
    if isinstance(target, cst.StarredElement):
        return target_binds(target.value, name)
    return False


def binds(node: cst.CSTNode, name: str) -> bool:
    """Whether executing ``node`` may bind (or unbind) ``name`` in the scope it runs in."""
    finder = _BindingFinder(name)
    finder.walk(node)
    return finder.found


class _BindingFinder(Walker):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found = False

    def _hit(self, condition: bool) -> None:
        if condition:
            self.found = True

    def visit_Assign(self, node: cst.Assign) -> None:
        self._hit(any(target_binds(t.target, self.name) for t in node.targets))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._hit(node.value is not None and target_binds(node.target, self.name))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._hit(target_binds(node.target, self.name))

    def visit_For(self, node: cst.For) -> None:
        self._hit(target_binds(node.target, self.name))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._hit(target_binds(node.target, self.name))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self._hit(node.asname is not None and target_binds(node.asname.name, self.name))

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._hit(node.name is not None and target_binds(node.name.name, self.name))

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        self._hit(node.name is not None and target_binds(node.name.name, self.name))

    def visit_Del(self, node: cst.Del) -> None:
        self._hit(target_binds(node.target, self.name))

    def visit_Global(self, node: cst.Global) -> None:
        self._hit(any(item.name.value == self.name for item in node.names))

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._hit(any(item.name.value == self.name for item in node.names))

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            self._hit(_import_local_name(alias, top_only=True) == self.name)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            self.found = True
            return
        for alias in node.names:
            self._hit(_import_local_name(alias, top_only=False) == self.name)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        self._hit(node.name is not None and node.name.value == self.name)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        self._hit(node.name is not None and node.name.value == self.name)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        self._hit(node.rest is not None and node.rest.value == self.name)

    # Nested scopes: only their own name (and global/nonlocal declarations) reach this scope.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._hit(node.name.value == self.name or _declares_outer(node.body, self.name))
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._hit(node.name.value == self.name or _declares_outer(node.body, self.name))
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def _import_local_name(alias: cst.ImportAlias, *, top_only: bool) -> str | None:
    if alias.asname is not None:
        asname = alias.asname.name
        return asname.value if isinstance(asname, cst.Name) else None
    full: cst.BaseExpression = alias.name
    while isinstance(full, cst.Attribute):
        if not top_only:
            return full.attr.value
        full = full.value
    return full.value if isinstance(full, cst.Name) else None


def _declares_outer(body: cst.CSTNode, name: str) -> bool:
    finder = _OuterDeclaration(name)
    finder.walk(body)
    return finder.found


class _OuterDeclaration(Walker):
    """``global name`` / ``nonlocal name`` anywhere in a nested scope."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found = False

    def visit_Global(self, node: cst.Global) -> None:
        if any(item.name.value == self.name for item in node.names):
            self.found = True

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        if any(item.name.value == self.name for item in node.names):
            self.found = True


# -- name occurrences ---------------------------------------------------------------------------


def count_name(node: cst.CSTNode, name: str) -> int:
    """How many times the variable ``name`` appears in ``node`` (reads and writes alike).

    Attribute names (``obj.name``) and keyword names (``f(name=1)``) are not the variable.
    """
    counter = _NameCounter(name)
    counter.walk(node)
    return counter.count


def name_counts(node: cst.CSTNode) -> Counter[str]:
    """``count_name`` for every name at once: one walk where many names are asked about."""
    counter = _NameCounter(None)
    counter.walk(node)
    return counter.counts


class _NameCounter(Walker):
    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.name = name  # None: count every name
        self.count = 0
        self.counts: Counter[str] = Counter()
        self.skip: set[int] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.skip.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.skip.add(id(node.keyword))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) in self.skip:
            return
        if self.name is None:
            self.counts[node.value] += 1
        elif node.value == self.name:
            self.count += 1


def enclosing_scope(path: PathUp) -> cst.CSTNode | None:
    """The innermost function (or lambda) holding the use, else the module (the last ancestor)."""
    last: cst.CSTNode | None = None
    for ancestor, _child in path:
        if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
            return ancestor
        last = ancestor
    return last


# -- binding sites of one scope, in source order -------------------------------------------------

_BLOCKS = (cst.IndentedBlock, cst.SimpleStatementSuite, cst.Module)


@dataclass(frozen=True)
class BindingSite:
    """One place a name of a scope is bound."""

    # Source order: a binding counts from the end of its statement's evaluation, so
    # ``x = f(x)`` binds after the ``x`` it reads.
    order: int
    # ``name = value`` (or ``name: T = value``) as a statement of its own: the value; else None.
    value: cst.BaseExpression | None
    # id() of the block (indented block, one-line suite, module) holding that statement.
    block: int | None


class ScopeBindings(Walker):
    """Every binding of every name in one scope's body, in source order (nested scopes excluded,
    except their own names). ``order_of(node)`` gives the source order of the ``if`` statements and
    conditional expressions of the scope, to compare with. One walk answers every query of the
    scope, so callers cache it per scope (``TorchFacts.scope_bindings``)."""

    def __init__(self, scope: cst.CSTNode) -> None:
        super().__init__()
        self.sites: dict[str, list[BindingSite]] = {}
        self._orders: dict[int, int] = {}
        self._keys: dict[str, list[int]] = {}
        self._counter = 0
        self._stack: list[cst.CSTNode] = []
        body = getattr(scope, "body", None)
        root = scope if isinstance(scope, cst.Module) else body
        if isinstance(root, cst.CSTNode):
            self.walk(root)

    # -- queries ------------------------------------------------------------------------------
    def order_of(self, node: cst.CSTNode) -> int | None:
        return self._orders.get(id(node))

    def last_before(self, name: str, order: int) -> BindingSite | None:
        """The last binding of ``name`` (or a star import) that precedes ``order``."""
        found = self._last(name, order)
        star = self._last("*", order)
        if star is not None and (found is None or star.order > found.order):
            return star
        return found

    def _last(self, name: str, order: int) -> BindingSite | None:
        sites = self.sites.get(name)
        if not sites:
            return None
        keys = self._keys.get(name)
        if keys is None:
            keys = self._keys[name] = [s.order for s in sites]
        index = bisect_left(keys, order)
        return sites[index - 1] if index else None

    # -- collection ---------------------------------------------------------------------------
    def _add(
        self, name: str, value: cst.BaseExpression | None = None, block: int | None = None
    ) -> None:
        self.sites.setdefault(name, []).append(BindingSite(self._counter, value, block))

    def _add_target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._add_target(element.value)
        elif isinstance(target, cst.StarredElement):
            self._add_target(target.value)

    def _statement_block(self) -> int | None:
        """The block holding the current small statement, when it is a statement of its own."""
        stack = self._stack
        if len(stack) >= 2 and isinstance(stack[-1], cst.SimpleStatementLine):
            if isinstance(stack[-2], _BLOCKS):
                return id(stack[-2])
        if stack and isinstance(stack[-1], cst.SimpleStatementSuite):
            return id(stack[-1])
        return None

    def _visit(self, node: cst.CSTNode) -> object:
        self._counter += 1
        if isinstance(node, (cst.If, cst.IfExp)):
            self._orders[id(node)] = self._counter
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            self._add(node.name.value)
            return False
        if isinstance(node, cst.Lambda):
            return False
        result = super()._visit(node)
        if result is not False:
            self._stack.append(node)
        return result

    def _leave(self, node: cst.CSTNode) -> None:
        self._stack.pop()
        super()._leave(node)

    def leave_Assign(self, node: cst.Assign) -> None:
        block = self._statement_block()
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self._add(target.target.value, node.value, block)
            else:
                self._add_target(target.target)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is None:
            return
        if isinstance(node.target, cst.Name):
            self._add(node.target.value, node.value, self._statement_block())

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        self._add_target(node.target)

    def leave_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._add_target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._add_target(node.target)

    def leave_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._add_target(node.asname.name)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._add_target(node.name.name)

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        if node.name is not None:
            self._add_target(node.name.name)

    def visit_Del(self, node: cst.Del) -> None:
        self._add_target(node.target)

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self._add(item.name.value)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        for item in node.names:
            self._add(item.name.value)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            local = _import_local_name(alias, top_only=True)
            if local is not None:
                self._add(local)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            self._add("*")
            return
        for alias in node.names:
            local = _import_local_name(alias, top_only=False)
            if local is not None:
                self._add(local)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self._add(node.name.value)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self._add(node.name.value)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self._add(node.rest.value)
