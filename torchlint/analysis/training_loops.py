"""Training loops: BACKWARD, OPTIMIZER STEP, gradient clearing and step guards.

The catalog's shared notions, implemented once. A TRAINING LOOP is the innermost ``for``/``while``
whose body (nested ``if``/``with``/``try`` included; nested ``def``/``class`` excluded, except a
closure passed to ``X.step(closure)``) contains both a BACKWARD and an OPTIMIZER STEP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.dataflow import ScopeBindings
from torchlint.analysis.names import dotted_name
from torchlint.analysis.signatures import has_parameter
from torchlint.analysis.walk import SCOPES, ScopeWalker, Walker, walk

if TYPE_CHECKING:
    from torchlint.analysis.bindings import Bindings
    from torchlint.analysis.callees import CallSummaries
    from torchlint.analysis.names import ImportMap
    from torchlint.project_index import ProjectIndex

Loop = cst.For | cst.While


class LoopFacts(Protocol):
    """What this module reads of a file's facts: analysis/facts.py's ``TorchFacts`` provides it
    (described here, not imported: that module summarizes loops with this one)."""

    @property
    def names(self) -> ImportMap: ...
    @property
    def bindings(self) -> Bindings: ...
    @property
    def calls(self) -> CallSummaries: ...
    @property
    def closure_defs(self) -> ClosureDefs: ...
    @property
    def project(self) -> ProjectIndex | None: ...
    def loop(self, loop: Loop) -> LoopSummary: ...
    def scope_bindings(self, scope: cst.CSTNode) -> ScopeBindings: ...


_OPTIMIZER_NAME = re.compile(
    # ``optimizerD`` / ``optG``: the capital stays case-sensitive, or "options" would match.
    r"^_*(opt|optim|optimizer|optimiser)s?(_\w+|(?-i:[A-Z])\w*|\d+)?$"
    r"|^\w*_(opt|optim|optimizer|optimiser)s?$"
    r"|^\w*(Optimizer|Optimiser)$",
    re.IGNORECASE,
)
_SCHEDULER_NAME = re.compile(r"sched|lr_?scheduler|warmup", re.IGNORECASE)
_SCALER_NAME = re.compile(r"scaler", re.IGNORECASE)
_COUNTER_NAME = re.compile(
    r"^_*(i|j|k|n|it|itr|iter|iters|iteration|iterations|step|steps|global_step|batch|batch_i|"
    r"batch_idx|batch_id|batch_index|batch_num|idx|index|epoch|ep|count|counter|n_iter|num_iter|"
    r"iter_num|iter_count|step_num|step_count|update|updates|num_updates|total_steps|cur_step|"
    r"curr_step|current_step|micro_step|tick)$",
    re.IGNORECASE,
)
_GUARD_CALL = re.compile(r"^(should|is_\w*step|is_\w*iter|time_to)\w*$", re.IGNORECASE)

_SCALER_CTORS = {"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"}


def call_attr(call: cst.Call) -> str | None:
    """The method name of ``x.name(...)``."""
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def receiver(call: cst.Call) -> cst.BaseExpression | None:
    return call.func.value if isinstance(call.func, cst.Attribute) else None


def is_backward(call: cst.Call, facts: LoopFacts) -> bool:
    """``E.backward()``, ``scaler.scale(E).backward()``, ``accelerator.backward(E)``, ..."""
    if call_attr(call) in ("backward", "manual_backward"):
        return True
    return facts.names.resolve(call.func) == "torch.autograd.backward"


def is_scaler(expr: cst.BaseExpression, facts: LoopFacts) -> bool:
    key = binding_key(expr)
    if key is None:
        return False
    if facts.bindings.constructor_of(key) in _SCALER_CTORS:
        return True
    return bool(_SCALER_NAME.search(last_component(key)))


def is_optimizer(expr: cst.BaseExpression, facts: LoopFacts) -> bool:
    """Bound to a ``torch.optim`` constructor, or named like an optimizer; never a scheduler."""
    key = binding_key(expr)
    if key is None:
        return False
    name = last_component(key)
    callees = facts.bindings.callees_of(key)
    if any(".lr_scheduler." in c or c.endswith("Scheduler") for c in callees):
        return False
    if any(_is_optimizer_ctor(c) for c in callees):
        return True
    if _SCHEDULER_NAME.search(name):
        return False
    return bool(_OPTIMIZER_NAME.match(name))


def _is_optimizer_ctor(qualname: str) -> bool:
    if not qualname.startswith("torch.optim."):
        return False
    tail = qualname[len("torch.optim.") :]
    return "." not in tail and tail[:1].isupper()


def step_target(call: cst.Call, facts: LoopFacts) -> cst.BaseExpression | None:
    """The optimizer an OPTIMIZER STEP steps: X for ``X.step(...)`` and ``scaler.step(X)``."""
    if call_attr(call) != "step":
        return None
    recv = receiver(call)
    assert recv is not None
    if call.args and call.args[0].keyword is None and is_scaler(recv, facts):
        return call.args[0].value
    if is_optimizer(recv, facts):
        return recv
    return None


def expr_key(expr: cst.BaseExpression) -> str:
    key = binding_key(expr)
    return key if key is not None else cst.Module([]).code_for_node(expr)


@dataclass
class LoopSummary:
    backwards: list[cst.Call] = field(default_factory=list)
    # (the step call, the key of the optimizer it steps, the optimizer expression)
    steps: list[tuple[cst.Call, str, cst.BaseExpression]] = field(default_factory=list)
    # keys of objects whose zero_grad() runs in the body
    zero_grad_keys: set[str] = field(default_factory=set)
    # p.grad = None / p.grad.zero_() and friends: clears whatever p belongs to
    clears_parameters: bool = False
    item_calls: list[cst.Call] = field(default_factory=list)
    # A loop nested in the body is itself a training loop (this one is an epoch loop around it).
    contains_training_loop: bool = False

    @property
    def is_training_loop(self) -> bool:
        """The catalog's TRAINING LOOP: the *innermost* loop holding a BACKWARD and a STEP."""
        return bool(self.backwards) and bool(self.steps) and not self.contains_training_loop

    def stepped_keys(self) -> set[str]:
        return {key for _, key, _ in self.steps}

    def clears(self, optimizer_key: str) -> bool:
        """Whether something in the body clears the gradients ``optimizer_key`` steps with."""
        if self.clears_parameters or optimizer_key in self.zero_grad_keys:
            return True
        # M.zero_grad() on anything that is not another optimizer stepped here: a model.
        others = self.stepped_keys() - {optimizer_key}
        return any(k not in others for k in self.zero_grad_keys)


class _LoopWalker(Walker):
    def __init__(self, facts: LoopFacts, summary: LoopSummary, loop: Loop | None = None) -> None:
        super().__init__()
        self.facts = facts
        self.summary = summary
        self.loop = loop
        self.allowed_closures: set[int] = set()
        self.walked_functions: set[int] = set()
        self._called_names: set[str] | None = None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        # A def made in the loop and called in it by name runs once per iteration (timm's
        # ``_forward()`` / ``_backward(loss)``): its body is part of the iteration.
        return id(node) in self.allowed_closures or node.name.value in self._calls_by_name()

    def _calls_by_name(self) -> set[str]:
        if self.loop is None:
            return set()
        if self._called_names is None:
            names: set[str] = set()

            def visit(node: cst.CSTNode) -> bool:
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
                    names.add(node.func.value)
                return not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda))

            walk(self.loop.body, visit)
            self._called_names = names
        return self._called_names

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return id(node) in self.allowed_closures

    def visit_For(self, node: cst.For) -> None:
        self._nested_loop(node)

    def visit_While(self, node: cst.While) -> None:
        self._nested_loop(node)

    def _nested_loop(self, node: Loop) -> None:
        if not self.summary.contains_training_loop and self.facts.loop(node).is_training_loop:
            self.summary.contains_training_loop = True

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.facts
        if is_backward(node, facts):
            self.summary.backwards.append(node)
            return
        attr = call_attr(node)
        if attr == "step":
            target = step_target(node, facts)
            if target is not None:
                self.summary.steps.append((node, expr_key(target), target))
                self._follow_closures(node)
        elif attr == "zero_grad":
            recv = receiver(node)
            assert recv is not None
            self.summary.zero_grad_keys.add(expr_key(recv))
        elif attr in ("zero_", "fill_"):
            # p.grad.zero_(), p.grad.data.zero_(), p.grad.detach_().zero_()
            if _is_grad_expr(receiver(node)):
                self.summary.clears_parameters = True
        elif attr == "item" and not node.args:
            self.summary.item_calls.append(node)
        elif _named_like_zero_grad(node.func):
            # A helper such as ``zero_grad(model)`` or ``self.zero_grad_all()``: it clears
            # something we cannot see, so it counts as clearing every optimizer.
            self.summary.zero_grad_keys.add("*")
        elif self.loop is not None and _may_be_helper(node.func, self.facts):
            self.summary.zero_grad_keys.update(self._cleared_by_helper(node))

    def _cleared_by_helper(self, node: cst.Call) -> list[str]:
        """What a function of this file or the project clears when called here: the arguments
        passed for the parameters whose ``zero_grad()`` it calls (``reset(opt)``), and the
        ``self.opt`` it clears (``self.reset()``)."""
        assert self.loop is not None
        scope = self.facts.bindings.scopes.scope_of_loop(self.loop)
        summary = self.facts.calls.function_in(node, scope)
        if summary is None or not summary.clears_grad:
            return []
        arguments = [
            expr_key(arg.value) if arg.keyword is None and not arg.star else None
            for arg in node.args
        ]
        out = summary.cleared_arguments(arguments)
        out += [key for key in summary.clears_grad if key.startswith("self.")]
        return out

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if _is_grad_expr(target.target):
                self.summary.clears_parameters = True

    def visit_Del(self, node: cst.Del) -> None:
        targets = node.target.elements if isinstance(node.target, cst.Tuple) else ()
        exprs = [e.value for e in targets] or [node.target]
        if any(_is_grad_expr(e) for e in exprs):
            self.summary.clears_parameters = True

    def _follow_closures(self, step_call: cst.Call) -> None:
        for arg in step_call.args:
            value = arg.value
            if arg.keyword is not None and arg.keyword.value != "closure":
                continue
            if isinstance(value, cst.Lambda):
                self.allowed_closures.add(id(value))
            elif isinstance(value, cst.Name):
                fn = self.facts.closure_defs.resolve(step_call, value.value)
                if fn is None or id(fn) in self.walked_functions:
                    continue
                self.walked_functions.add(id(fn))
                self.allowed_closures.add(id(fn))
                self.walk(fn.body)


class _SelfMethodCalls(ScopeWalker):
    """Names of the ``self.name(...)`` calls in a block, outside nested functions and classes."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
            and func.attr.value not in self.names
        ):
            self.names.append(func.attr.value)


def cleared_by_a_method(
    loop: Loop, cls: cst.ClassDef, optimizer_key: str, facts: LoopFacts
) -> bool:
    """Whether a method of ``cls`` that the loop calls as ``self.name(...)`` clears the gradients
    ``optimizer_key`` steps with: a Trainer's ``self._reset_grads()``. One call deep."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return False
    methods = {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}
    calls = _SelfMethodCalls()
    calls.walk(loop.body)
    others = facts.loop(loop).stepped_keys() - {optimizer_key}
    for name in calls.names:
        method = methods.get(name)
        if method is None:
            continue
        inside = LoopSummary()
        _LoopWalker(facts, inside).walk(method.body)
        if (
            inside.clears_parameters
            or optimizer_key in inside.zero_grad_keys
            or any(k not in others for k in inside.zero_grad_keys)
        ):
            return True
    return False


def _is_grad_expr(expr: cst.BaseExpression | None) -> bool:
    """``p.grad``, ``p.grad.data``, ``p.grad.detach_()``, ``p.grad[...]``."""
    while expr is not None:
        if isinstance(expr, cst.Attribute):
            if expr.attr.value == "grad":
                return True
            if expr.attr.value != "data":
                return False
            expr = expr.value
        elif isinstance(expr, cst.Call) and call_attr(expr) in ("detach_", "detach"):
            expr = receiver(expr)
        elif isinstance(expr, cst.Subscript):
            expr = expr.value
        else:
            return False
    return False


def _named_like_zero_grad(func: cst.BaseExpression) -> bool:
    if isinstance(func, cst.Attribute):
        name = func.attr.value
    elif isinstance(func, cst.Name):
        name = func.value
    else:
        return False
    return "zero_grad" in name.lower()


class ClosureDefs:
    """Which ``def`` a name passed to ``X.step(name)`` stands for, by Python's scoping.

    One walk of the file records every ``def`` with the scope that binds its name and its source
    order, and the scope and order of every ``.step(...)`` call. A name resolves to the last ``def``
    of that name preceding the call in the call's own scope (the function or module body, the
    loop body included); failing that, in the enclosing functions, then the module. A ``def`` of
    the same name elsewhere in the file (another function's closure) is never taken.
    """

    def __init__(self, module: cst.Module) -> None:
        # id(scope node) -> name -> [(order, def)] in source order
        self._defs: dict[int, dict[str, list[tuple[int, cst.FunctionDef]]]] = {}
        # id(step call) -> (order, scope chain innermost first; classes left out)
        self._calls: dict[int, tuple[int, tuple[cst.CSTNode, ...]]] = {}
        chain: list[cst.CSTNode] = [module]
        counter = 0

        def visit(node: cst.CSTNode) -> bool:
            nonlocal counter
            counter += 1
            if isinstance(node, cst.FunctionDef):
                holder = chain[-1]
                by_name = self._defs.setdefault(id(holder), {})
                by_name.setdefault(node.name.value, []).append((counter, node))
                chain.append(node)
            elif isinstance(node, (cst.Lambda, cst.ClassDef)):
                chain.append(node)
            elif isinstance(node, cst.Call) and call_attr(node) == "step":
                scopes = tuple(n for n in reversed(chain) if not isinstance(n, cst.ClassDef))
                self._calls[id(node)] = (counter, scopes)
            return True

        def leave(node: cst.CSTNode) -> None:
            if isinstance(node, SCOPES):
                chain.pop()

        walk(module, visit, leave)

    def resolve(self, step_call: cst.Call, name: str) -> cst.FunctionDef | None:
        known = self._calls.get(id(step_call))
        if known is None:
            return None
        order, scopes = known
        for depth, scope in enumerate(scopes):
            found = self._defs.get(id(scope), {}).get(name)
            if not found:
                if isinstance(scope, (cst.FunctionDef, cst.Lambda)) and has_parameter(scope, name):
                    return None  # a closure handed in by the caller
                continue
            before = [fn for at, fn in found if at < order]
            if before:
                return before[-1]
            if depth > 0 and isinstance(scope, cst.Module):
                # A module-level def is bound by the time a function runs, wherever it stands.
                return found[-1][1]
        return None


def _may_be_helper(func: cst.BaseExpression, facts: LoopFacts) -> bool:
    """A call that may run a function of this file or the project: a name, or an attribute of
    ``self`` or of an imported module (cheap to tell, before any summary is read)."""
    if isinstance(func, cst.Name):
        return func.value in facts.bindings.functions or facts.project is not None
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        root = func.value.value
        return root == "self" or (facts.project is not None and root in facts.names.aliases)
    return False


def summarize_loop(loop: Loop, facts: LoopFacts) -> LoopSummary:
    summary = LoopSummary()
    walker = _LoopWalker(facts, summary, loop)
    walker.walk(loop.body)
    return summary


# -- step guards ------------------------------------------------------------------------------


# ``FileContext.path_up()``: (ancestor, its child on the way down to the node), nearest first.
AncestorPath = Sequence[tuple[cst.CSTNode, cst.CSTNode]]


def loop_counters(loop: Loop) -> set[str]:
    """Names a ``for`` loop binds: ``i``, ``step`` in ``for step, batch in enumerate(...)``."""
    if not isinstance(loop, cst.For):
        return set()
    target = loop.target
    names: set[str] = set()
    if isinstance(target, cst.Name):
        names.add(target.value)
    elif isinstance(target, cst.Tuple) and target.elements:
        first = target.elements[0].value
        if isinstance(first, cst.Name):
            names.add(first.value)
    return names


def _counter_like(expr: cst.BaseExpression, counters: set[str]) -> bool:
    key = binding_key(expr)
    if key is None:
        return False
    name = last_component(key)
    return key in counters or name in counters or bool(_COUNTER_NAME.match(name))


class _GuardFinder(Walker):
    def __init__(self, counters: set[str]) -> None:
        super().__init__()
        self.counters = counters
        self.found = False

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> bool:
        if isinstance(node.operator, cst.Modulo) and not isinstance(
            node.left, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
        ):
            self.found = True
        return not self.found

    def visit_Comparison(self, node: cst.Comparison) -> bool:
        operands = [node.left] + [c.comparator for c in node.comparisons]
        if any(
            isinstance(
                c.operator,
                (
                    cst.Equal,
                    cst.GreaterThan,
                    cst.GreaterThanEqual,
                    cst.LessThan,
                    cst.LessThanEqual,
                    cst.NotEqual,
                ),
            )
            for c in node.comparisons
        ) and any(_counter_like(op, self.counters) for op in operands):
            self.found = True
        return not self.found

    def visit_Call(self, node: cst.Call) -> bool:
        name = dotted_name(node.func)
        if name is not None and _GUARD_CALL.match(name.rsplit(".", 1)[-1]):
            self.found = True
        return not self.found


def is_step_guard(
    test: cst.BaseExpression,
    counters: set[str],
    path: AncestorPath | None = None,
    facts: LoopFacts | None = None,
) -> bool:
    """An ``if`` test that makes its body run only on some iterations.

    With ``path`` (the ancestors of ``test``, nearest first, as ``FileContext.path_up()`` gives
    them: ``[(the if, test), ...]``), a name that holds a step guard counts as one too:
    ``log_now = step % 100 == 0`` and then ``if log_now:`` (or ``if log_now and is_main:``).
    The name's last binding before the ``if`` must be a plain ``name = <step guard>`` statement in
    a block that leads to the ``if`` inside the innermost loop around it (it runs on every
    iteration, before the ``if``, and nothing re-binds the name in between); ``if not log_now:``
    runs on most iterations and is no guard. ``facts`` caches the scope's bindings.
    """
    if _has_guard(test, counters):
        return True
    if path is None or not _guard_names(test) or _has_walrus(test):
        return False  # a walrus in the test binds in the middle of it: not worth following
    where = _guard_scope(path)
    if where is None:
        return False
    scope, blocks = where
    bindings = facts.scope_bindings(scope) if facts is not None else ScopeBindings(scope)
    order = bindings.order_of(path[0][0])
    if order is None:
        return False
    return _holds_guard(test, counters, bindings, order, blocks, 0)


def _has_guard(expr: cst.BaseExpression, counters: set[str]) -> bool:
    finder = _GuardFinder(counters)
    finder.walk(expr)
    return finder.found


def _has_walrus(expr: cst.BaseExpression) -> bool:
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        found = found or isinstance(node, cst.NamedExpr)
        return not found

    walk(expr, visit)
    return found


_MAX_GUARD_DEPTH = 4


def _guard_names(test: cst.BaseExpression) -> list[str]:
    """Names whose truth the test requires: the test itself, or an operand of ``and``."""
    if isinstance(test, cst.Name):
        return [test.value]
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _guard_names(test.left) + _guard_names(test.right)
    return []


def _guard_scope(path: AncestorPath) -> tuple[cst.CSTNode, set[int]] | None:
    """The scope holding the ``if`` (function, class or module) and the ids of the blocks from
    the ``if`` up to the body of the innermost loop around it; None outside any loop."""
    blocks: set[int] = set()
    for index, (ancestor, child) in enumerate(path):
        if isinstance(ancestor, SCOPES):
            return None  # not in a loop of its own scope
        if isinstance(ancestor, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            blocks.add(id(ancestor))
        elif isinstance(ancestor, (cst.For, cst.While)) and child is ancestor.body:
            for outer, _child in path[index + 1 :]:
                if isinstance(outer, SCOPES):
                    return outer, blocks
            root = path[-1][0]
            return (root, blocks) if isinstance(root, cst.Module) else None
    return None


def _holds_guard(
    test: cst.BaseExpression,
    counters: set[str],
    bindings: ScopeBindings,
    order: int,
    blocks: set[int],
    depth: int,
) -> bool:
    if depth > _MAX_GUARD_DEPTH:
        return False
    for name in _guard_names(test):
        site = bindings.last_before(name, order)
        if site is None or site.value is None or site.block not in blocks:
            continue  # unknown, re-bound on the way, or bound outside this loop's body
        if _has_guard(site.value, counters) or _holds_guard(
            site.value, counters, bindings, site.order, blocks, depth + 1
        ):
            return True
    return False


# -- where a node runs: enclosing loops, step guards, training loops ----------------------------


@dataclass(frozen=True)
class EnclosingLoop:
    """A loop that runs a node on each of its iterations."""

    loop: Loop
    # The node sits in the true branch of a STEP GUARD between it and this loop, so it runs on
    # some iterations only.
    guarded: bool


def _runs_per_iteration(loop: Loop, child: cst.CSTNode) -> bool:
    """Whether ``child`` of ``loop`` runs on every iteration (the body; a ``while`` test too)."""
    if child is loop.body:
        return True
    return isinstance(loop, cst.While) and child is loop.test


def _scope_segment(path: AncestorPath) -> list[tuple[cst.CSTNode, cst.CSTNode]]:
    """The part of ``path`` inside the node's own function (or module)."""
    out = []
    for ancestor, child in path:
        if isinstance(ancestor, SCOPES):
            break
        out.append((ancestor, child))
    return out


def enclosing_loops(path: AncestorPath, facts: LoopFacts | None = None) -> list[EnclosingLoop]:
    """The ``for``/``while`` loops whose every iteration runs the node, nearest first.

    The walk stops at ``def``/``class``/``lambda``. A loop's iterable and its ``else`` clause run
    once, so a node there belongs to the loops further out only. Only the true branch of an ``if``
    (or of ``a if test else b``) whose test is a STEP GUARD counts as guarded; a test naming a
    variable that holds one (``log_now = step % 100 == 0``; ``if log_now:``) is one too.
    """
    segment = _scope_segment(path)
    counters: set[str] = set()
    for ancestor, _ in segment:
        if isinstance(ancestor, cst.For):
            counters |= loop_counters(ancestor)
    out: list[EnclosingLoop] = []
    guarded = False
    for index, (ancestor, child) in enumerate(segment):
        if isinstance(ancestor, (cst.If, cst.IfExp)) and child is ancestor.body:
            if not guarded:
                # ``segment`` is a prefix of ``path``: the guard lookup needs the scope above it.
                above = [(ancestor, ancestor.test), *path[index + 1 :]]
                guarded = is_step_guard(ancestor.test, counters, above, facts)
        elif isinstance(ancestor, (cst.For, cst.While)) and _runs_per_iteration(ancestor, child):
            out.append(EnclosingLoop(ancestor, guarded))
    return out


def training_loop_of(path: AncestorPath, facts: LoopFacts) -> EnclosingLoop | None:
    """The TRAINING LOOP a node runs in: the nearest enclosing loop that is one."""
    for entry in enclosing_loops(path, facts):
        if facts.loop(entry.loop).is_training_loop:
            return entry
    return None


def stepping_loop_of(path: AncestorPath, facts: LoopFacts) -> EnclosingLoop | None:
    """The nearest enclosing loop that backpropagates and steps anywhere in its body.

    Unlike :func:`training_loop_of` this may be an epoch loop around the batch loop: what runs at
    the start of each epoch still runs before that epoch's optimizer steps.
    """
    for entry in enclosing_loops(path, facts):
        summary = facts.loop(entry.loop)
        if summary.backwards and summary.steps:
            return entry
    return None


def per_iteration_training_loop(path: AncestorPath, facts: LoopFacts) -> EnclosingLoop | None:
    """The TRAINING LOOP that runs a node on every iteration, as the innermost loop decides.

    The innermost enclosing loop without a BACKWARD (an evaluation loop, even one nested in an
    epoch loop that trains; a loop over parameters or metrics) runs the node outside training:
    None. A training loop is the answer. A loop with a BACKWARD but no OPTIMIZER STEP (micro-batches
    accumulated inside a stepping loop) defers to the loops further out.
    """
    for entry in enclosing_loops(path, facts):
        summary = facts.loop(entry.loop)
        if not summary.backwards:
            return None
        if summary.is_training_loop:
            return entry
    return None


def steps_directly(loop: Loop, facts: LoopFacts) -> bool:
    """Whether a BACKWARD or an OPTIMIZER STEP sits in ``loop``'s own body, outside nested loops.

    An epoch loop whose only BACKWARD and step are in the batch loop inside it is a training loop
    by summary, but its own body runs once per epoch, not once per step: code there is not "on
    every iteration of the training loop".
    """
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if found or isinstance(node, (cst.For, cst.While, *SCOPES)):
            return False
        if isinstance(node, cst.Call) and (
            is_backward(node, facts) or step_target(node, facts) is not None
        ):
            found = True
        return not found

    walk(loop.body, visit)
    return found


def accumulation_divisor(test: cst.BaseExpression) -> cst.BaseExpression | None:
    """``k`` when ``test`` is an accumulation STEP GUARD: ``(i + 1) % k == 0``, ``not step % k``.

    The comparison may be one operand of ``and``/``or`` (``... or is_last_batch``). A literal
    ``% 1`` (every iteration) and string formatting (``"%d" % n``) are not guards.
    """
    if isinstance(test, cst.BooleanOperation):
        return accumulation_divisor(test.left) or accumulation_divisor(test.right)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _modulo_divisor(test.expression)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        if not isinstance(target.operator, cst.Equal):
            return None
        for side, other in ((test.left, target.comparator), (target.comparator, test.left)):
            if isinstance(other, cst.Integer) and other.value == "0":
                return _modulo_divisor(side)
    return None


def _modulo_divisor(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    if not isinstance(expr, cst.BinaryOperation) or not isinstance(expr.operator, cst.Modulo):
        return None
    if isinstance(expr.left, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return None
    divisor = expr.right
    if isinstance(divisor, cst.Integer) and divisor.value in ("0", "1"):
        return None
    return divisor
