"""TL007 loss-accumulated-with-graph.

A loss that is backpropagated still carries its ``grad_fn``. ``total += loss`` builds a new node
on top of every previous step's graph, and ``losses.append(loss)`` keeps each step's graph
reachable from the list, so memory grows with every iteration until the run slows down or runs out
of memory. The running total only needs the number: ``loss.detach()`` (or ``loss.item()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.backprop import backpropagated_names, retains_graph
from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import reaching_assignment
from torchlint.analysis.grad_mode import grad_mode_of
from torchlint.analysis.training_loops import (
    Loop,
    call_attr,
    enclosing_loops,
    is_backward,
    receiver,
    training_loop_of,
)
from torchlint.analysis.walk import SCOPES, PathUp, walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

# Calls whose result carries no graph.
_DETACHING_METHODS = frozenset({"item", "detach", "tolist", "numpy", "cpu"})
_DETACHING_FUNCTIONS = frozenset({"float", "int", "round"})


class _LoopFacts:
    """What the body of one loop does, outside nested loops and scopes."""

    def __init__(self, loop: Loop, facts: TorchFacts) -> None:
        self.backpropagated: set[str] = set()
        self.retained: set[str] = set()
        # name -> values assigned to it anywhere in the body (None: under no_grad or unpacked)
        self.assigned: dict[str, list[cst.BaseExpression | None]] = {}
        # keys the body rebinds or clears (also under a guard): the accumulation is bounded
        self.reset: set[str] = set()
        self._facts = facts
        disabled = 0
        stack: list[bool] = []

        def visit(node: cst.CSTNode) -> bool:
            nonlocal disabled
            if isinstance(node, SCOPES) or (
                isinstance(node, (cst.For, cst.While)) and node is not loop
            ):
                return False
            off = isinstance(node, cst.With) and any(
                grad_mode_of(item.item, facts.names) is False for item in node.items
            )
            stack.append(off)
            disabled += off
            if isinstance(node, cst.Call) and is_backward(node, facts):
                names = backpropagated_names(node, facts)
                self.backpropagated |= names
                if retains_graph(node):
                    self.retained |= names
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    self._record(target.target, None if disabled else node.value)
                    key = binding_key(target.target)
                    if key is not None and not _accumulates(node):
                        self.reset.add(key)
            elif isinstance(node, cst.Call) and call_attr(node) == "clear":
                recv = receiver(node)
                key = binding_key(recv) if recv is not None else None
                if key is not None:
                    self.reset.add(key)
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
                self._record(node.target, None)
            return True

        def leave(node: cst.CSTNode) -> None:
            nonlocal disabled
            disabled -= stack.pop()

        walk(loop.body, visit, leave)

    def _record(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Name):
            self.assigned.setdefault(target.value, []).append(value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._record(element.value, None)


def _accumulates(assign: cst.Assign) -> bool:
    """``total = total + x``: an update, not a reset."""
    value = assign.value
    if not isinstance(value, cst.BinaryOperation):
        return False
    left = binding_key(value.left)
    return left is not None and any(binding_key(t.target) == left for t in assign.targets)


def _detached(value: cst.BaseExpression | None) -> bool:
    if value is None:
        return True  # unknown: treated as detached, never reported
    if isinstance(value, (cst.Integer, cst.Float)):
        return True
    if isinstance(value, cst.Call):
        if call_attr(value) in _DETACHING_METHODS:
            return True
        func = value.func
        return isinstance(func, cst.Name) and func.value in _DETACHING_FUNCTIONS
    return False


def _detach_calls_between(path: PathUp, name: str) -> set[str]:
    """``detach``/``detach_`` for statements ``name.detach()`` / ``name.detach_()`` standing on
    their own between the reaching assignment of ``name`` and the use at ``path``."""
    reaching = reaching_assignment(path, name)
    if reaching is None:
        return set()
    out: set[str] = set()
    for node in reaching.between:
        smalls = node.body if isinstance(node, cst.SimpleStatementLine) else [node]
        for small in smalls:
            if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
                continue
            call = small.value
            method = call_attr(call)
            target = receiver(call)
            if (
                method in ("detach", "detach_")
                and not call.args
                and isinstance(target, cst.Name)
                and target.value == name
            ):
                out.add(method)
    return out


def _leaves(expr: cst.BaseExpression) -> list[cst.Name]:
    """Names whose value ``expr`` keeps (with their graph): through arithmetic and tuples."""
    if isinstance(expr, cst.Name):
        return [expr]
    if isinstance(expr, cst.BinaryOperation):
        return _leaves(expr.left) + _leaves(expr.right)
    if isinstance(expr, cst.UnaryOperation):
        return _leaves(expr.expression)
    if isinstance(expr, (cst.Tuple, cst.List)):
        out: list[cst.Name] = []
        for element in expr.elements:
            out += _leaves(element.value)
        return out
    return []


class LossAccumulatedWithGraph(Rule):
    code = "TL007"
    name = "loss-accumulated-with-graph"
    summary = (
        "A backpropagated loss is summed or appended across training iterations with its autograd "
        "graph, so every step's graph stays in memory"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.MEDIUM
    fix_applicability = Applicability.SAFE
    # Tests run a handful of mock steps: the graphs they keep cost nothing.
    report_in_tests = False
    needles = ("backward",)

    def setup(self) -> None:
        self._loops: dict[int, _LoopFacts] = {}

    def _loop(self, loop: Loop) -> _LoopFacts:
        found = self._loops.get(id(loop))
        if found is None:
            found = self._loops[id(loop)] = _LoopFacts(loop, self.facts)
        return found

    # -- the accumulations ------------------------------------------------------------------------
    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if not isinstance(node.operator, cst.AddAssign):
            return
        key = binding_key(node.target)
        if key is None:
            return
        value = node.value
        if isinstance(value, cst.List):  # losses += [loss]
            self._check(key, value, f"`{self.context.code(node.target)} += [...]`")
        else:
            self._check(key, value, f"`{self.context.code(node.target)} += ...`")

    def visit_Assign(self, node: cst.Assign) -> None:
        # total = total + loss
        if len(node.targets) != 1:
            return
        key = binding_key(node.targets[0].target)
        value = node.value
        if key is None or not isinstance(value, cst.BinaryOperation):
            return
        if not isinstance(value.operator, cst.Add) or binding_key(value.left) != key:
            return
        self._check(key, value.right, f"`{key} = {key} + ...`")

    def visit_Call(self, node: cst.Call) -> None:
        if call_attr(node) != "append" or len(node.args) != 1 or node.args[0].keyword:
            return
        if node.args[0].star:
            return
        recv = receiver(node)
        key = binding_key(recv) if recv is not None else None
        if key is None:
            return
        self._check(key, node.args[0].value, f"`{self.context.code(node.func)}(...)`")

    # -- the check --------------------------------------------------------------------------------
    def _check(self, accumulator: str, value: cst.BaseExpression, spelled: str) -> None:
        path = self.context.path_up()
        if training_loop_of(path, self.facts) is None:
            return
        loops = enclosing_loops(path, self.facts)
        if not loops:
            return
        facts = self._loop(loops[0].loop)
        if accumulator in facts.reset:
            return  # re-created or cleared in the loop: the graphs do not pile up without bound
        found = []
        fixable = True
        for leaf in _leaves(value):
            if not self._carries_graph(leaf, facts, path):
                continue
            between = _detach_calls_between(path, leaf.value)
            if "detach_" in between:
                continue  # ``loss.detach_()`` on the way: the graph is already released
            if "detach" in between:
                # A discarded ``loss.detach()`` on the way: the graph is still kept, but TL006's
                # fix turns that line into ``loss = loss.detach()``; detaching here as well would
                # leave ``loss.detach().detach()`` once both are applied.
                fixable = False
            found.append(leaf)
        if not found:
            return
        shown = ", ".join(f"`{leaf.value}`" for leaf in found)
        fix = None
        if fixable:
            fix = FixPlan(
                "Accumulate the detached value",
                Applicability.SAFE,
                tuple(Replace(leaf, f"{leaf.value}.detach()") for leaf in found),
            )
        self.report(
            value,
            f"{spelled} keeps {shown} with its autograd graph on every iteration "
            f"(it is backpropagated), so the graphs of all steps stay in memory: accumulate "
            f"`{found[0].value}.detach()` or `{found[0].value}.item()`",
            fix=fix,
        )

    def _carries_graph(self, leaf: cst.Name, facts: _LoopFacts, path: PathUp) -> bool:
        """``leaf`` is the backpropagated tensor (or a plain alias of it) at this point."""
        name = leaf.value
        reaching = reaching_assignment(path, name)
        if reaching is not None:
            value = reaching.value
            if isinstance(value, cst.Name) and value.value != name:
                return self._is_backpropagated(value.value, facts) and not _detached(value)
            if _detached(value):
                return False
            return self._is_backpropagated(name, facts)
        # Flow the dataflow module cannot follow (an assignment under ``with autocast():``, say):
        # every assignment of the name in the loop body has to produce a graph.
        if not self._is_backpropagated(name, facts):
            return False
        values = facts.assigned.get(name)
        if values is None:
            return False
        return all(not _detached(v) for v in values)

    @staticmethod
    def _is_backpropagated(name: str, facts: _LoopFacts) -> bool:
        return name in facts.backpropagated and name not in facts.retained
