"""TL019 accumulation-loss-not-scaled.

With gradient accumulation, ``backward()`` runs every iteration and the optimizer steps every ``k``:
the gradients of ``k`` micro-batches are *summed*. Unless each loss is divided by ``k``, the update
is ``k`` times larger than the one the learning rate was tuned for.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.dataflow import reaching_assignment
from torchlint.analysis.names import dotted_name
from torchlint.analysis.training_loops import (
    accumulation_divisor,
    call_attr,
    expr_key,
    is_backward,
    is_step_guard,
    loop_counters,
    receiver,
    step_target,
    training_loop_of,
)
from torchlint.analysis.walk import SCOPES, PathUp, children
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

_SCALING_CALLS = frozenset({"div", "div_", "mul", "mul_", "divide", "multiply", "true_divide"})
_TRANSPARENT = frozenset({"mean", "sum", "float", "double", "squeeze", "to"})
_CRITERION = re.compile(
    r"^_*(criterion\w*|\w*_criterion|\w*loss_?fn|\w*loss_?func(tion)?|\w*loss_?module)$", re.I
)
_MODEL = re.compile(r"^_*(model|net|network|module|\w+_model|\w+_net|model_\w+)$", re.I)
_GRAD_RESCALE = re.compile(r"scale_grad|rescale|normali[sz]e_grad", re.I)


def _is_name(expr: cst.BaseExpression, name: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == name


def _scaling_op(operator: cst.BaseAugOp) -> bool:
    return isinstance(operator, (cst.DivideAssign, cst.MultiplyAssign, cst.FloorDivideAssign))


class _LoopScan:
    """BACKWARDs and gradient clearing in a loop body, each marked guarded or not."""

    def __init__(self, facts: TorchFacts, counters: set[str]) -> None:
        self.facts = facts
        self.counters = counters
        self.backwards: list[tuple[cst.Call, bool]] = []
        self.unguarded_clear = False

    def scan(self, node: cst.CSTNode, guarded: bool) -> None:
        if isinstance(node, SCOPES):
            return
        if isinstance(node, cst.If):
            self.scan(node.test, guarded)
            self.scan(node.body, guarded or is_step_guard(node.test, self.counters))
            if node.orelse is not None:
                self.scan(node.orelse, guarded)
            return
        if isinstance(node, cst.Call):
            if is_backward(node, self.facts):
                self.backwards.append((node, guarded))
            elif not guarded and _clears(node):
                self.unguarded_clear = True
        elif isinstance(node, cst.Assign) and not guarded:
            if any(_is_grad(t.target) for t in node.targets):
                self.unguarded_clear = True
        for child in children(node):
            self.scan(child, guarded)


def _clears(call: cst.Call) -> bool:
    name = dotted_name(call.func)
    if name is not None and "zero_grad" in name.rsplit(".", 1)[-1]:
        return True
    return call_attr(call) == "zero_" and _is_grad(receiver(call))


def _is_grad(expr: cst.BaseExpression | None) -> bool:
    return isinstance(expr, cst.Attribute) and expr.attr.value == "grad"


class _Calls:
    """Every call under a node (nested scopes excluded)."""

    def __init__(self, node: cst.CSTNode) -> None:
        self.calls: list[cst.Call] = []
        self._collect(node)

    def _collect(self, node: cst.CSTNode) -> None:
        if isinstance(node, SCOPES):
            return
        if isinstance(node, cst.Call):
            self.calls.append(node)
        for child in children(node):
            self._collect(child)


def _names_in(node: cst.CSTNode) -> set[str]:
    out: set[str] = set()

    def collect(current: cst.CSTNode) -> None:
        key = binding_key(current) if isinstance(current, cst.BaseExpression) else None
        if key is not None and isinstance(current, (cst.Name, cst.Attribute)):
            out.add(key)
        if isinstance(current, cst.Name):
            out.add(current.value)
        for child in children(current):
            collect(child)

    collect(node)
    return out


class AccumulationLossNotScaled(Rule):
    code = "TL019"
    name = "accumulation-loss-not-scaled"
    summary = (
        "The optimizer steps under a gradient-accumulation guard but the backpropagated loss is "
        "not divided by the accumulation count"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.MEDIUM
    fix_applicability = Applicability.DISPLAY_ONLY
    needles = ("%",)

    def visit_Call(self, node: cst.Call) -> None:
        target = step_target(node, self.facts)
        if target is None:
            return
        path = self.context.path_up()
        where = training_loop_of(path, self.facts)
        if where is None or not where.guarded:
            return
        loop = where.loop
        guard, divisor = self._guard(path, loop)
        if guard is None or divisor is None:
            return
        guard_calls = _Calls(guard.body).calls
        if any(is_backward(c, self.facts) for c in guard_calls):
            return  # the guarded branch computes its own gradients: not accumulation
        if any(self._rescales_gradients(c) for c in guard_calls):
            return  # gradients normalised before the step (token-count scaling)
        key = expr_key(target)
        guarded_ids = {id(c) for c in guard_calls}
        for call, other, _ in self.facts.loop(loop).steps:
            if other == key and id(call) not in guarded_ids:
                return  # the same optimizer also steps every iteration
        counters = loop_counters(loop)
        for ancestor, _child in path:
            if isinstance(ancestor, cst.For):
                counters |= loop_counters(ancestor)
        scan = _LoopScan(self.facts, counters)
        scan.scan(loop.body, False)
        if scan.unguarded_clear:
            return  # gradients are cleared every iteration: nothing accumulates
        backwards = [call for call, guarded in scan.backwards if not guarded]
        if not backwards:
            return
        divisor_names = _names_in(divisor)
        losses = []
        for call in backwards:
            loss = self._loss_of(call, loop, path)
            if loss is None:
                return  # ``accelerator.backward(loss)`` and friends scale for you
            verdict = self._unscaled(loss[0], loss[1], divisor_names)
            if verdict is not True:
                return  # scaled somewhere, or an origin we cannot read
            losses.append((call, loss[0]))
        k = self.context.code(divisor)
        for call, scaled in losses:
            shown = self.context.code(scaled)
            short = len(shown) <= 40 and "\n" not in shown
            what = f"`{shown}`" if short else "the loss"
            self.report(
                call,
                f"gradients of {what} accumulate over `{k}` iterations before the optimizer steps, "
                f"but the loss is not divided by `{k}`: each update is `{k}` times too large",
                fix=FixPlan(
                    f"Divide the loss by `{k}` before `backward()`",
                    Applicability.DISPLAY_ONLY,
                    (Replace(scaled, self._divided(call, scaled, shown, k)),),
                ),
            )

    @staticmethod
    def _divided(call: cst.Call, loss: cst.BaseExpression, shown: str, k: str) -> str:
        """``(loss / k)`` as a receiver of ``.backward()``; ``loss / k`` as an argument."""
        if receiver(call) is loss:
            return f"({shown} / {k})"
        return f"{shown} / {k}"

    # -- the guard ------------------------------------------------------------------------------
    def _guard(
        self, path: PathUp, loop: cst.CSTNode
    ) -> tuple[cst.If | None, cst.BaseExpression | None]:
        for ancestor, child in path:
            if ancestor is loop:
                break
            if isinstance(ancestor, cst.If) and child is ancestor.body:
                divisor = accumulation_divisor(ancestor.test)
                if divisor is not None:
                    return ancestor, divisor
        return None, None

    def _rescales_gradients(self, call: cst.Call) -> bool:
        name = dotted_name(call.func)
        if name is None:
            return False
        if _GRAD_RESCALE.search(name.rsplit(".", 1)[-1]):
            return True
        for value in self.facts.bindings.values.get(name, ()):
            if value is not None and _GRAD_RESCALE.search(self.context.code(value)):
                return True
        if call_attr(call) in ("div_", "mul_") and _is_grad(receiver(call)):
            return True
        return False

    # -- the loss -------------------------------------------------------------------------------
    def _loss_of(
        self, call: cst.Call, loop: cst.CSTNode, path: PathUp
    ) -> tuple[cst.BaseExpression, PathUp] | None:
        """The backpropagated expression, with the path up from the backward call."""
        if call_attr(call) == "backward" and not call.args:
            recv = receiver(call)
            assert recv is not None
            if isinstance(recv, cst.Call) and call_attr(recv) == "scale" and recv.args:
                recv = recv.args[0].value  # scaler.scale(loss).backward()
        elif self.context.qualified_name(call.func) == "torch.autograd.backward" and call.args:
            recv = call.args[0].value
        else:
            return None
        # The loop's own ancestors come from the step's path; below the loop, search the body.
        outer = next((path[i:] for i, (_a, child) in enumerate(path) if child is loop), None)
        if outer is None:
            return None
        stack: list[cst.CSTNode] = []
        if not _find(loop, call, stack):
            return None
        inner = [(stack[i - 1], stack[i]) for i in range(len(stack) - 1, 0, -1)]
        return recv, [*inner, *outer]

    def _unscaled(
        self, expr: cst.BaseExpression, path: PathUp, divisor_names: set[str], depth: int = 0
    ) -> bool | None:
        """True: visibly unscaled; False: scaled; None: cannot tell."""
        if depth > 6:
            return None
        if divisor_names & _names_in(expr):
            return False  # the accumulation count takes part in the loss
        if isinstance(expr, cst.BinaryOperation):
            if isinstance(expr.operator, (cst.Add, cst.Subtract)):
                left = self._term(expr.left, path, divisor_names, depth + 1)
                right = self._term(expr.right, path, divisor_names, depth + 1)
                if left is False or right is False:
                    return False
                return True if left and right else None
            if isinstance(expr.operator, (cst.Divide, cst.Multiply, cst.FloorDivide)):
                return False  # ``loss / k``, ``loss * (1 / k)``
            return None
        if isinstance(expr, cst.UnaryOperation):
            return self._unscaled(expr.expression, path, divisor_names, depth + 1)
        if isinstance(expr, cst.Name):
            found = reaching_assignment(path, expr.value)
            if found is None:
                return self._assigned_in_loop(expr.value, path, divisor_names, depth)
            sub_path = [(found.statement, found.value), *found.path]
            return self._unscaled(found.value, sub_path, divisor_names, depth + 1)
        if isinstance(expr, (cst.Integer, cst.Float)):
            return True
        if isinstance(expr, (cst.Attribute, cst.Subscript)):
            # ``outputs.loss`` / ``out["loss"]`` / ``out[0]`` of a model's output.
            base = expr.value
            if isinstance(base, cst.Name):
                found = reaching_assignment(path, base.value)
                if found is not None and isinstance(found.value, cst.Call):
                    sub_path = [(found.statement, found.value), *found.path]
                    return self._origin(found.value, sub_path, divisor_names, depth + 1)
            if isinstance(base, cst.Call):
                return self._origin(base, path, divisor_names, depth + 1)
            return None
        if isinstance(expr, cst.Call):
            method = call_attr(expr)
            if method in _SCALING_CALLS:
                return False
            qualified = self.context.qualified_name(expr.func) or ""
            if qualified.rsplit(".", 1)[-1] in _SCALING_CALLS:
                return False
            if method in _TRANSPARENT and not expr.args:
                recv = receiver(expr)
                assert recv is not None
                return self._unscaled(recv, path, divisor_names, depth + 1)
            return self._origin(expr, path, divisor_names, depth + 1)
        return None

    def _term(
        self, expr: cst.BaseExpression, path: PathUp, divisor_names: set[str], depth: int
    ) -> bool | None:
        """One term of a sum of losses: ``0.1 * reg`` is a weighted term, not a rescaled loss."""
        if isinstance(expr, cst.BinaryOperation) and isinstance(
            expr.operator, (cst.Multiply, cst.Divide)
        ):
            number = (cst.Integer, cst.Float)
            if isinstance(expr.right, number):
                return self._unscaled(expr.left, path, divisor_names, depth)
            if isinstance(expr.left, number) and isinstance(expr.operator, cst.Multiply):
                return self._unscaled(expr.right, path, divisor_names, depth)
        return self._unscaled(expr, path, divisor_names, depth)

    def _assigned_in_loop(
        self, name: str, path: PathUp, divisor_names: set[str], depth: int
    ) -> bool | None:
        """When straight-line flow cannot tell: every binding of ``name`` in the loop body."""
        loop = next((a for a, _c in path if isinstance(a, (cst.For, cst.While))), None)
        if loop is None:
            return None
        verdicts: list[bool | None] = []

        def collect(node: cst.CSTNode) -> None:
            if isinstance(node, SCOPES):
                return
            if isinstance(node, cst.AugAssign) and _is_name(node.target, name):
                verdicts.append(False if _scaling_op(node.operator) else None)
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    if _is_name(target.target, name):
                        verdicts.append(self._unscaled(node.value, [], divisor_names, depth + 1))
                    elif not isinstance(target.target, (cst.Name, cst.Attribute, cst.Subscript)):
                        verdicts.append(None)  # unpacking: cannot tell which value
            elif isinstance(node, (cst.For, cst.WithItem, cst.NamedExpr)) and name in _names_in(
                getattr(node, "target", None) or getattr(node, "asname", None) or node
            ):
                verdicts.append(None)
            for child in children(node):
                collect(child)

        collect(loop.body)
        if not verdicts or False in verdicts:
            return False if False in verdicts else None
        return True if all(verdicts) else None

    def _origin(
        self, call: cst.Call, path: PathUp, divisor_names: set[str], depth: int
    ) -> bool | None:
        """A loss computed by a known loss function or a model: unscaled; a tensor method
        (``out.pow(2)``) is as scaled as its receiver. Anything else: unknown."""
        qualified = self.context.qualified_name(call.func)
        if qualified is not None:
            if qualified.startswith("torch.nn.functional.") or qualified.startswith("torch."):
                return True
            return None
        key = binding_key(call.func)
        if key is None:
            return None
        callees = self.facts.bindings.callees_of(key)
        if any(c.startswith("torch.nn.") and c.endswith("Loss") for c in callees):
            return True
        name = last_component(key)
        if _CRITERION.match(name) or _MODEL.match(name):
            return True
        func = call.func
        if isinstance(func, cst.Attribute) and not isinstance(func.value, cst.Name | cst.Attribute):
            return self._unscaled(func.value, path, divisor_names, depth + 1)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            if func.value.value != "self":
                return self._unscaled(func.value, path, divisor_names, depth + 1)
        return None


def _find(node: cst.CSTNode, target: cst.CSTNode, stack: list[cst.CSTNode]) -> bool:
    """Fill ``stack`` with the nodes from ``node`` down to ``target`` (identity search)."""
    stack.append(node)
    if node is target:
        return True
    for child in children(node):
        if _find(child, target, stack):
            return True
    stack.pop()
    return False
