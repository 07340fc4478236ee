"""Reaching definitions through compound statements: every assignment of a name that may reach a use.

:func:`torchlint.analysis.dataflow.reaching_assignment` answers the straight-line question (the one
assignment that must reach a use) and gives up at the first ``if``/``for``/``try`` binding the name.
Rules that ask "does every value ``p`` may hold here come from a softmax?" need all of them:
``reaching_assignments(path, name)`` answers the list of plain ``name = value`` assignments that may
reach the use, or None as soon as one reaching binding is anything else (a parameter, the top of
the scope where the name is not bound, unpacking, augmented assignment, an import, a ``for``
target, ``with ... as``, ``except ... as``, a match capture, ``del``, ``global``...).

Semantics, per compound statement (a single name, so every statement's effect is "these
assignments, plus what came in when some path through it does not bind the name"):

- ``if``/``elif``/``else``: both branches; the fall-through when there is no ``else``;
- ``for``/``while``: the body runs zero or more times: the loop head sees what came in and what the
  end of the body (or a ``continue``) leaves; a use inside the body sees the same, so a definition
  later in the body reaches it through the back edge; ``else`` runs when the loop ends without
  ``break``; the code after sees the ``else``'s result and every ``break``'s; ``while True:`` ends
  only by ``break``;
- ``try``: a handler may start after any part of the body (every definition of the body may or may
  not have happened); ``else`` follows the body; ``finally`` follows all of them;
- ``with``: its body runs once, straight through, after its items;
- ``match``: every case, and the fall-through unless the last case is ``case _:``;
- ``return``/``raise``/``break``/``continue`` end a path.

It walks the statements of the enclosing scope from its top to the use, without building a control
flow graph; the cost is one pass over the statements before the use (twice over a loop body), with
the binding test of each statement cached. A name bound nowhere in its scope answers at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst

from torchlint.analysis.dataflow import (
    COMPREHENSIONS,
    Reaching,
    binds,
    comprehension_fors,
    plain_value,
    reaching_assignment,
    target_binds,
)
from torchlint.analysis.walk import PathUp, ScopeWalker

# Definitions that reach a point: small statements (``Assign`` / ``AnnAssign``) by id, or _UNKNOWN.
Flow = frozenset[int]
_UNKNOWN = 0
_UNKNOWN_FLOW: Flow = frozenset({_UNKNOWN})
# The ancestors of the node being run, nearest first, as a linked list (cheap to extend).
_Up = tuple[tuple[cst.CSTNode, cst.CSTNode], "_Up"] | None
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_BLOCKS = (cst.Module, cst.IndentedBlock, cst.SimpleStatementSuite, cst.SimpleStatementLine)


def reaching_assignments(path: PathUp, name: str) -> list[Reaching] | None:
    """Every plain ``name = value`` that may reach the use whose ancestors are ``path`` (nearest
    first, as ``FileContext.path_up()`` gives them), in source order; None when any binding that
    may reach it is not a plain assignment, or the use cannot be reached.

    A single answer found in straight-line code is :func:`reaching_assignment`'s (its ``between``
    is exact); the others answer ``rebinds()`` True for any name (the paths are not recorded).
    """
    single = reaching_assignment(path, name)
    if single is not None:
        return [single]
    return _Analysis(name).at_use(list(path))


def _union(a: Flow | None, b: Flow | None) -> Flow | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


@dataclass
class _Exits:
    normal: Flow | None  # None: this path never completes normally
    brk: Flow | None = None  # what reaches the ``break`` statements of the innermost loop
    cont: Flow | None = None  # ... its ``continue`` statements


_BINDS_CACHE: dict[tuple[int, str], tuple[cst.CSTNode, bool]] = {}
_JUMPS_CACHE: dict[int, tuple[cst.CSTNode, tuple[bool, bool]]] = {}


def _binds(node: cst.CSTNode, name: str) -> bool:
    """``binds``, cached per node (the node is kept alive with its answer, so ids stay unique)."""
    key = (id(node), name)
    hit = _BINDS_CACHE.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    if len(_BINDS_CACHE) > 10_000:
        _BINDS_CACHE.clear()
    answer = binds(node, name)
    _BINDS_CACHE[key] = (node, answer)
    return answer


class _Jumps(ScopeWalker):
    """``break`` / ``continue`` of the loop around a statement (not of loops or scopes inside)."""

    def __init__(self) -> None:
        super().__init__()
        self.brk = False
        self.cont = False

    def visit_Break(self, node: cst.Break) -> None:
        self.brk = True

    def visit_Continue(self, node: cst.Continue) -> None:
        self.cont = True

    def visit_For(self, node: cst.For) -> bool:
        if node.orelse is not None:
            self.walk(node.orelse)  # the ``else`` of a loop belongs to the loop around it
        return False

    def visit_While(self, node: cst.While) -> bool:
        if node.orelse is not None:
            self.walk(node.orelse)
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        for small in node.body:
            if isinstance(small, cst.Break):
                self.brk = True
            elif isinstance(small, cst.Continue):
                self.cont = True
        return False  # expressions hold no statements


def _jumps(node: cst.CSTNode) -> tuple[bool, bool]:
    hit = _JUMPS_CACHE.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    if len(_JUMPS_CACHE) > 10_000:
        _JUMPS_CACHE.clear()
    finder = _Jumps()
    finder.walk(node)
    answer = (finder.brk, finder.cont)
    _JUMPS_CACHE[id(node)] = (node, answer)
    return answer


def _plain_value(small: cst.BaseSmallStatement, name: str) -> cst.BaseExpression | None:
    """As :func:`plain_value`, but not when another target of the same ``=`` also binds
    ``name`` by unpacking (``name = (name, rest) = v``): the value it ends with is not plain."""
    if isinstance(small, cst.Assign) and any(
        not isinstance(t.target, cst.Name) and target_binds(t.target, name) for t in small.targets
    ):
        return None
    return plain_value(small, name)


def _is_true(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.Name):
        return test.value == "True"
    return isinstance(test, cst.Integer) and test.value != "0"


def _irrefutable(case: cst.MatchCase) -> bool:
    pattern = case.pattern
    return case.guard is None and isinstance(pattern, cst.MatchAs) and pattern.pattern is None


class _Analysis:
    def __init__(self, name: str) -> None:
        self.name = name
        # Every plain assignment met, in the order met (source order, a loop body once).
        self.found: dict[int, Reaching] = {}
        # Open ``try`` statements: every definition made while one runs may reach its handlers
        # and its ``finally``.
        self.collecting: list[set[int]] = []

    # -- the walk down the use's path -------------------------------------------------------------
    def at_use(self, path: list[tuple[cst.CSTNode, cst.CSTNode]]) -> list[Reaching] | None:
        name = self.name
        scope_index = None
        for index, (ancestor, child) in enumerate(path):
            if isinstance(ancestor, _SCOPES):
                if isinstance(ancestor, cst.Lambda) or child is not ancestor.body:
                    return None  # a lambda's parameter, a default, a decorator...
                scope_index = index
                break
            if isinstance(ancestor, COMPREHENSIONS):
                if any(target_binds(c.target, name) for c in comprehension_fors(ancestor)):
                    return None
        if scope_index is None:
            if not path or not isinstance(path[-1][0], cst.Module):
                return None
            scope_body: cst.CSTNode = path[-1][0]
            down = path[::-1]
            outer: list[tuple[cst.CSTNode, cst.CSTNode]] = []
        else:
            scope_body = path[scope_index][1]
            down = path[:scope_index][::-1]
            outer = path[scope_index:]
        if not _binds(scope_body, name):
            return None  # a parameter, a closure variable, a global or a builtin
        up: _Up = None
        for pair in reversed(outer):
            up = (pair, up)
        flow: Flow | None = _UNKNOWN_FLOW  # the top of the scope: unbound, or bound elsewhere
        for ancestor, child in down:
            if flow is None:
                return None  # the use cannot be reached
            flow = self._into(ancestor, child, flow, up)
            up = ((ancestor, child), up)
        if not flow or _UNKNOWN in flow:
            return None
        return [reaching for key, reaching in self.found.items() if key in flow]

    def _into(self, node: cst.CSTNode, child: cst.CSTNode, flow: Flow, up: _Up) -> Flow | None:
        """The definitions reaching ``child`` of ``node``: ``flow`` reaches ``node``, whose
        ancestors are ``up``."""
        name = self.name
        if isinstance(node, _BLOCKS):
            body = list(node.body)
            position = next((i for i, s in enumerate(body) if s is child), None)
            if position is None:
                return None
            return self._run_sequence(body[:position], flow, node, up).normal
        if isinstance(node, cst.If):
            return flow if child is node.test else self._expr(node.test, flow)
        if isinstance(node, (cst.For, cst.While)):
            if isinstance(node, cst.For):
                if child is node.iter:
                    return flow
                if child is not node.body and child is not node.orelse:
                    return None  # the target
                flow = self._expr(node.iter, flow)
            head, _ = self._loop(node, flow, up)
            if isinstance(node, cst.While) and child is node.test:
                return head
            if child is node.orelse:
                return self._expr(node.test, head) if isinstance(node, cst.While) else head
            return self._loop_entry(node, head)
        if isinstance(node, (cst.Try, cst.TryStar)):
            if child is node.body:
                return flow
            if child is node.orelse:
                return self._run_block(node.body, flow, node, up).normal
            handlers, _, everything, _ = self._try(node, flow, up)
            if isinstance(child, (cst.ExceptHandler, cst.ExceptStarHandler)):
                return handlers
            return everything  # ``finally``: after any part of the rest, or an exception in it
        if isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            if child is node.body and node.name is not None and target_binds(node.name.name, name):
                return self._gen_unknown()
            return flow
        if isinstance(node, cst.With):
            return self._with_items(node, flow) if child is node.body else flow
        if isinstance(node, cst.MatchCase):
            if child is node.pattern:
                return flow
            flow = self._case_entry(node, flow)
            if child is node.body and node.guard is not None:
                flow = self._expr(node.guard, flow)
            return flow
        if isinstance(node, _SCOPES):
            return None
        return flow  # expressions, ``match`` subjects, ``else``/``finally`` wrappers...

    # -- running statements that do not hold the use -----------------------------------------------
    def _expr(self, expr: cst.CSTNode, flow: Flow) -> Flow:
        """Evaluating ``expr`` (a walrus may bind the name)."""
        return self._gen_unknown() if _binds(expr, self.name) else flow

    def _gen_unknown(self) -> Flow:
        for collected in self.collecting:
            collected.add(_UNKNOWN)
        return _UNKNOWN_FLOW

    def _gen(self, small: cst.BaseSmallStatement, value: cst.BaseExpression, up: _Up) -> Flow:
        key = id(small)
        if key not in self.found:
            path: list[tuple[cst.CSTNode, cst.CSTNode]] = []
            cursor = up
            while cursor is not None:
                path.append(cursor[0])
                cursor = cursor[1]
            self.found[key] = Reaching(self.name, value, small, path, straight=False)
        for collected in self.collecting:
            collected.add(key)
        return frozenset({key})

    def _run_block(
        self, block: cst.BaseSuite, flow: Flow | None, owner: cst.CSTNode, up: _Up
    ) -> _Exits:
        """Running the suite ``block``, the child of ``owner`` (whose ancestors are ``up``)."""
        return self._run_sequence(block.body, flow, block, ((owner, block), up))

    def _run_sequence(
        self,
        statements: Iterable[cst.CSTNode],
        flow: Flow | None,
        container: cst.CSTNode,
        up: _Up,
    ) -> _Exits:
        exits = _Exits(flow)
        for statement in statements:
            if exits.normal is None:
                break
            one = self._run(statement, exits.normal, container, up)
            exits = _Exits(one.normal, _union(exits.brk, one.brk), _union(exits.cont, one.cont))
        return exits

    def _run(self, node: cst.CSTNode, flow: Flow, container: cst.CSTNode, up: _Up) -> _Exits:
        """Running ``node`` (a statement or a small statement), the child of ``container``
        (whose ancestors are ``up``)."""
        name = self.name
        here: _Up = ((container, node), up)  # the ancestors of ``node``
        if isinstance(node, cst.BaseSmallStatement):
            if isinstance(node, (cst.Return, cst.Raise)):
                return _Exits(None)
            if isinstance(node, cst.Break):
                return _Exits(None, brk=flow)
            if isinstance(node, cst.Continue):
                return _Exits(None, cont=flow)
            value = _plain_value(node, name)
            if value is not None:
                return _Exits(self._gen(node, value, here))
            return _Exits(self._expr(node, flow))
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return self._run_sequence(node.body, flow, node, here)
        if not _binds(node, name):
            brk, cont = _jumps(node)
            return _Exits(flow, flow if brk else None, flow if cont else None)
        if isinstance(node, cst.If):
            flow = self._expr(node.test, flow)
            body = self._run_block(node.body, flow, node, here)
            orelse = node.orelse
            if orelse is None:
                other = _Exits(flow)
            elif isinstance(orelse, cst.If):
                other = self._run(orelse, flow, node, here)
            else:
                other = self._run_block(orelse.body, flow, orelse, ((node, orelse), here))
            return _Exits(
                _union(body.normal, other.normal),
                _union(body.brk, other.brk),
                _union(body.cont, other.cont),
            )
        if isinstance(node, (cst.For, cst.While)):
            if isinstance(node, cst.For):
                flow = self._expr(node.iter, flow)
            head, body = self._loop(node, flow, here)
            if isinstance(node, cst.While) and _is_true(node.test):
                return _Exits(body.brk)  # ``while True:`` ends only by ``break``
            done: Flow | None = head
            if isinstance(node, cst.While):
                done = self._expr(node.test, head)
            if node.orelse is not None:
                orelse_up: _Up = ((node, node.orelse), here)
                done = self._run_block(node.orelse.body, done, node.orelse, orelse_up).normal
            return _Exits(_union(done, body.brk))
        if isinstance(node, (cst.Try, cst.TryStar)):
            _, after, _, abrupt = self._try(node, flow, here)
            if node.finalbody is None:
                return _Exits(after, abrupt.brk, abrupt.cont)
            final_up: _Up = ((node, node.finalbody), here)
            final = node.finalbody.body
            # A ``break`` or ``continue`` runs the ``finally`` on its way out.
            normal = self._run_block(final, after, node.finalbody, final_up)
            on_break = self._run_block(final, abrupt.brk, node.finalbody, final_up)
            on_continue = self._run_block(final, abrupt.cont, node.finalbody, final_up)
            return _Exits(
                normal.normal,
                _union(_union(on_break.normal, normal.brk), on_break.brk),
                _union(_union(on_continue.normal, normal.cont), on_continue.cont),
            )
        if isinstance(node, cst.With):
            return self._run_block(node.body, self._with_items(node, flow), node, here)
        if isinstance(node, cst.Match):
            flow = self._expr(node.subject, flow)
            out = _Exits(None)
            for case in node.cases:
                entry = self._case_entry(case, flow)
                if case.guard is not None:
                    entry = self._expr(case.guard, entry)
                ran = self._run_block(case.body, entry, case, ((node, case), here))
                out = _Exits(
                    _union(out.normal, ran.normal),
                    _union(out.brk, ran.brk),
                    _union(out.cont, ran.cont),
                )
            if not node.cases or not _irrefutable(node.cases[-1]):
                out.normal = _union(out.normal, flow)  # no case matched
            return out
        # A nested function or class of that name, a ``global`` or ``nonlocal`` in one...
        return _Exits(self._gen_unknown())

    # -- pieces of compound statements -------------------------------------------------------------
    def _loop_entry(self, loop: cst.For | cst.While, head: Flow) -> Flow:
        """What starts an iteration of the body, ``head`` reaching the loop's head."""
        if isinstance(loop, cst.For):
            return self._gen_unknown() if target_binds(loop.target, self.name) else head
        return self._expr(loop.test, head)

    def _loop(self, loop: cst.For | cst.While, flow: Flow, up: _Up) -> tuple[Flow, _Exits]:
        """What reaches the loop's head (what came in, and what the end of the body or a
        ``continue`` leaves: the back edge), and the exits of the body run from there.
        ``up``: the loop's ancestors."""
        name = self.name
        binding = _binds(loop.body, name) or (
            target_binds(loop.target, name)
            if isinstance(loop, cst.For)
            else _binds(loop.test, name)
        )
        if not binding:
            brk, cont = _jumps(loop.body)
            return flow, _Exits(flow, flow if brk else None, flow if cont else None)
        head = flow
        while True:  # a definition is added once: the second round only confirms
            ran = self._run_block(loop.body, self._loop_entry(loop, head), loop, up)
            new = head | (ran.normal or frozenset()) | (ran.cont or frozenset())
            if new == head:
                return head, ran
            head = new

    def _with_items(self, node: cst.With, flow: Flow) -> Flow:
        if any(_binds(item, self.name) for item in node.items):
            return self._gen_unknown()
        return flow

    def _case_entry(self, case: cst.MatchCase, flow: Flow) -> Flow:
        return self._gen_unknown() if _binds(case.pattern, self.name) else flow

    def _try(
        self, node: cst.Try | cst.TryStar, flow: Flow, up: _Up
    ) -> tuple[Flow, Flow | None, Flow, _Exits]:
        """For a ``try`` (whose ancestors are ``up``) reached by ``flow``: what reaches its
        handlers (any point of the body), what completes the body with its ``else`` or a handler
        normally, what may reach its ``finally`` (anything of the statement), and the breaks and
        continues of the body, ``else`` and handlers."""
        name = self.name
        collected: set[int] = set()
        self.collecting.append(collected)
        try:
            body = self._run_block(node.body, flow, node, up)
            handlers: Flow = flow | frozenset(collected)
            after: Flow | None = None
            brk, cont = body.brk, body.cont
            for handler in node.handlers:  # (handlers before ``else``: source order)
                named = handler.name is not None and target_binds(handler.name.name, name)
                entry = self._gen_unknown() if named else handlers
                ran = self._run_block(handler.body, entry, handler, ((node, handler), up))
                normal = ran.normal
                if named and normal is not None:
                    normal = _UNKNOWN_FLOW  # ``except E as name`` deletes the name at its end
                after = _union(after, normal)
                brk, cont = _union(brk, ran.brk), _union(cont, ran.cont)
            completed = body.normal
            if node.orelse is not None and completed is not None:
                orelse_up: _Up = ((node, node.orelse), up)
                ran = self._run_block(node.orelse.body, completed, node.orelse, orelse_up)
                completed, brk, cont = ran.normal, _union(brk, ran.brk), _union(cont, ran.cont)
            after = _union(completed, after)
        finally:
            self.collecting.pop()
        for outer in self.collecting:
            outer.update(collected)
        return handlers, after, flow | frozenset(collected), _Exits(None, brk, cont)
