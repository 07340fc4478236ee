"""TL001 missing-zero-grad.

``loss.backward()`` adds to ``.grad``; it never overwrites it. A training loop that steps an
optimizer without clearing its gradients applies the sum of every batch's gradient seen so far.

Not reported: distributed autograd (``with dist_autograd.context() as ctx:`` and a
``DistributedOptimizer``): gradients live in the context, a new one every iteration, so nothing
accumulates, and ``DistributedOptimizer`` has no ``zero_grad()``. Test code is not linted: its
loops are mock training runs that only need the weights to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.names import dotted_name
from torchlint.analysis.training_loops import (
    EnclosingLoop,
    cleared_by_a_method,
    expr_key,
    is_backward,
    receiver,
    step_target,
    training_loop_of,
)
from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertAfter, InsertBefore
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

_DISTRIBUTED_OPTIMIZERS = frozenset(
    {
        "torch.distributed.optim.DistributedOptimizer",
        "torch.distributed.optim.optimizer.DistributedOptimizer",
    }
)
_AUTOGRAD_CONTEXTS = frozenset({"torch.distributed.autograd.context"})


def _step_text(call: cst.Call, module: cst.Module, optimizer: str) -> str:
    recv = receiver(call)
    assert recv is not None
    head = module.code_for_node(recv)
    if head != optimizer:  # scaler.step(optimizer)
        return f"{head}.step({optimizer})"
    return f"{head}.step(...)" if call.args else f"{head}.step()"


def _first_statement(block: cst.IndentedBlock, *, skip_docstring: bool) -> cst.BaseStatement:
    body = list(block.body)
    if skip_docstring and len(body) > 1:
        first = body[0]
        if (
            isinstance(first, cst.SimpleStatementLine)
            and len(first.body) == 1
            and isinstance(first.body[0], cst.Expr)
            and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
        ):
            return body[1]
    return body[0]


class _Binds(Walker):
    """Whether a block (re)binds a name: ``opt = self.optimizers()`` inside the loop, say."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found = False

    def _check(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name) and target.value == self.name:
            self.found = True
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._check(element.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._check(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._check(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._check(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._check(node.target)


def _binds(block: cst.CSTNode, name: str) -> bool:
    finder = _Binds(name)
    finder.walk(block)
    return finder.found


class MissingZeroGrad(Rule):
    code = "TL001"
    name = "missing-zero-grad"
    summary = (
        "An optimizer steps in a training loop that never clears its gradients, so every step "
        "applies the sum of all gradients so far"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    report_in_tests = False
    needles = ("step",)

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.facts
        target = step_target(node, facts)
        if target is None:
            return
        if self._distributed_autograd(target):
            return
        where = training_loop_of(self.context.path_up(), facts)
        if where is None:
            return
        key = expr_key(target)
        if facts.loop(where.loop).clears(key):
            return
        cls = self.context.enclosing(cst.ClassDef)
        if cls is not None and cleared_by_a_method(where.loop, cls, key, facts):
            return
        optimizer = self.context.code(target)
        self.report(
            node,
            f"`{_step_text(node, self.context.module, optimizer)}` runs in a training loop that "
            f"never clears `{optimizer}`'s gradients, so they accumulate across iterations: "
            f"call `{optimizer}.zero_grad()` once per step",
            fix=self._fix(node, target, where),
        )

    def _distributed_autograd(self, target: cst.BaseExpression) -> bool:
        """Gradients kept in a distributed autograd context, not in ``.grad``."""
        key = binding_key(target)
        if key is not None and self.facts.bindings.constructor_of(key) in _DISTRIBUTED_OPTIMIZERS:
            return True
        for ancestor, child in self.context.path_up():
            if isinstance(ancestor, cst.With) and child is ancestor.body:
                for item in ancestor.items:
                    value = item.item
                    if (
                        isinstance(value, cst.Call)
                        and self.context.qualified_name(value.func) in _AUTOGRAD_CONTEXTS
                    ):
                        return True
        return False

    # -- the fix ----------------------------------------------------------------------------------

    def _fix(
        self, step: cst.Call, target: cst.BaseExpression, where: EnclosingLoop
    ) -> FixPlan | None:
        name = dotted_name(target)
        if name is None:
            return None
        code = f"{name}.zero_grad()"
        root = name.split(".", 1)[0]
        closure = self._closure(step)
        if closure is not None:
            # LBFGS and friends call the closure several times per step: it must clear the
            # gradients itself, or they pile up within one step.
            if not isinstance(closure.body, cst.IndentedBlock):
                return None
            first = _first_statement(closure.body, skip_docstring=True)
            return FixPlan(
                f"Call `{code}` at the start of the closure",
                Applicability.UNSAFE,
                (InsertBefore(first, code),),
            )
        loop = where.loop
        if where.guarded or _binds(loop.body, root):
            # Under a step guard (gradient accumulation), clearing at the top of every iteration
            # would throw away the accumulated micro-batches: clear right after the step instead.
            # Likewise when the optimizer is only bound inside the loop.
            statement = self._step_statement()
            if statement is None:
                return None
            return FixPlan(
                f"Call `{code}` right after the step",
                Applicability.UNSAFE,
                (InsertAfter(statement, code),),
            )
        if not isinstance(loop.body, cst.IndentedBlock):
            return None
        return FixPlan(
            f"Call `{code}` at the start of each iteration",
            Applicability.UNSAFE,
            (InsertBefore(_first_statement(loop.body, skip_docstring=False), code),),
        )

    def _step_statement(self) -> cst.SimpleStatementLine | None:
        """The statement line holding the step, when it is a line of an indented block."""
        for ancestor, child in self.context.path_up():
            if isinstance(child, cst.SimpleStatementLine):
                return child if isinstance(ancestor, cst.IndentedBlock) else None
            if isinstance(child, cst.BaseCompoundStatement):
                return None
        return None

    def _closure(self, step: cst.Call) -> cst.FunctionDef | None:
        """The single ``def`` passed as the step's closure, when it runs a BACKWARD."""
        for arg in step.args:
            if arg.keyword is not None and arg.keyword.value != "closure":
                continue
            if not isinstance(arg.value, cst.Name):
                continue
            functions = self.facts.bindings.functions.get(arg.value.value, ())
            if len(functions) != 1:
                continue
            finder = _BackwardFinder(self.facts)
            finder.walk(functions[0].body)
            if finder.found:
                return functions[0]
        return None


class _BackwardFinder(Walker):
    def __init__(self, facts: TorchFacts) -> None:
        super().__init__()
        self.facts = facts
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        if is_backward(node, self.facts):
            self.found = True
