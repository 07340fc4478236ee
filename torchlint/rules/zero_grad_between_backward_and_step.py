"""TL003 zero-grad-between-backward-and-step.

``loss.backward()`` fills ``.grad``; ``optimizer.zero_grad()`` empties it; ``optimizer.step()``
updates the weights from it. In the order backward, zero_grad, step, the step finds no gradients:
the model never learns (only momentum and weight decay move the weights), and nothing fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.training_loops import (
    call_attr,
    expr_key,
    is_backward,
    is_scaler,
    receiver,
    step_target,
)
from torchlint.analysis.walk import SCOPES, walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertAfter, RemoveStatement
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

_PARAMETER_METHODS = ("parameters", "named_parameters")


class _Step:
    def __init__(self, call: cst.Call, key: str, line: cst.SimpleStatementLine | None) -> None:
        self.call = call
        self.key = key
        self.line = line  # the statement line holding it, when it is a line of an indented block


class _StatementCalls:
    """The BACKWARD and OPTIMIZER STEP calls of one statement (nested scopes excluded)."""

    def __init__(self, statement: cst.CSTNode, facts: TorchFacts) -> None:
        self.backwards: list[cst.Call] = []
        self.steps: list[_Step] = []
        stack: list[cst.CSTNode] = []

        def visit(node: cst.CSTNode) -> bool:
            if isinstance(node, SCOPES):
                return False
            stack.append(node)
            if isinstance(node, cst.Call):
                if is_backward(node, facts):
                    self.backwards.append(node)
                else:
                    target = step_target(node, facts)
                    if target is not None:
                        self.steps.append(_Step(node, expr_key(target), _line(stack)))
            return True

        def leave(node: cst.CSTNode) -> None:
            stack.pop()

        walk(statement, visit, leave)


def _line(stack: list[cst.CSTNode]) -> cst.SimpleStatementLine | None:
    for index in range(len(stack) - 1, 0, -1):
        node = stack[index]
        if isinstance(node, cst.SimpleStatementLine):
            parent = stack[index - 1]
            return node if isinstance(parent, cst.IndentedBlock) else None
        if isinstance(node, cst.BaseCompoundStatement):
            return None
    first = stack[0] if stack else None
    return first if isinstance(first, cst.SimpleStatementLine) else None


class ZeroGradBetweenBackwardAndStep(Rule):
    code = "TL003"
    name = "zero-grad-between-backward-and-step"
    summary = (
        "`zero_grad()` between the backward pass and the optimizer step erases the gradients "
        "the step should apply"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("zero_grad",)

    def setup(self) -> None:
        self._calls: dict[int, _StatementCalls] = {}

    def _statement_calls(self, statement: cst.CSTNode) -> _StatementCalls:
        found = self._calls.get(id(statement))
        if found is None:
            found = self._calls[id(statement)] = _StatementCalls(statement, self.facts)
        return found

    def visit_Call(self, node: cst.Call) -> None:
        if call_attr(node) != "zero_grad":
            return
        stack = self.context.stack
        if len(stack) < 4 or not isinstance(stack[-2], cst.Expr):
            return
        line, block = stack[-3], stack[-4]
        if not isinstance(line, cst.SimpleStatementLine):
            return
        if not isinstance(block, (cst.IndentedBlock, cst.Module)):
            return
        body = list(block.body)
        index = next((i for i, s in enumerate(body) if s is line), None)
        if index is None:
            return
        recv = receiver(node)
        assert recv is not None
        if is_scaler(recv, self.facts):
            return
        cleared = expr_key(recv)
        clears = self._clears(cleared)
        if not self._backward_before(body[:index], clears):
            return
        step = self._step_after(body[index + 1 :], clears)
        if step is None:
            return
        zero = self.context.code(recv)
        stepped = self.context.code(step.call)
        self.report(
            node,
            f"`{zero}.zero_grad()` runs after the backward pass and before `{stepped}`: the step "
            "finds the gradients already cleared and the weights do not learn; clear them after "
            "the step (or before the backward)",
            fix=self._fix(line, step),
        )

    # -- order --------------------------------------------------------------------------------------
    def _clears(self, cleared: str) -> Callable[[str], bool]:
        """Whether clearing ``cleared`` empties the gradients of the optimizer with a given key."""

        def test(optimizer: str) -> bool:
            return optimizer == cleared or cleared in self._models_of(optimizer)

        return test

    def _models_of(self, optimizer: str) -> set[str]:
        """``model`` for ``optimizer = torch.optim.SGD(model.parameters(), ...)``."""
        out: set[str] = set()
        for value in self.facts.bindings.values.get(optimizer, ()):
            if not isinstance(value, cst.Call):
                continue
            callee = self.facts.names.resolve(value.func)
            if callee is None or not callee.startswith("torch.optim."):
                continue
            params = next(
                (a.value for a in value.args if a.keyword is None or a.keyword.value == "params"),
                None,
            )
            if params is None:
                continue

            def visit(node: cst.CSTNode) -> bool:
                if isinstance(node, cst.Call) and call_attr(node) in _PARAMETER_METHODS:
                    recv = receiver(node)
                    key = binding_key(recv) if recv is not None else None
                    if key is not None:
                        out.add(key)
                return True

            walk(params, visit)
        return out

    def _backward_before(
        self, before: Sequence[cst.CSTNode], clears: Callable[[str], bool]
    ) -> bool:
        """A BACKWARD precedes, with no step of the cleared optimizer after it."""
        for statement in reversed(before):
            calls = self._statement_calls(statement)
            if any(clears(s.key) for s in calls.steps):
                return False
            if calls.backwards:
                return True
        return False

    def _step_after(
        self, after: Sequence[cst.CSTNode], clears: Callable[[str], bool]
    ) -> _Step | None:
        """The next step of the cleared optimizer, with no BACKWARD before it."""
        for statement in after:
            calls = self._statement_calls(statement)
            if calls.backwards:
                return None  # fresh gradients come before the step
            for step in calls.steps:
                if clears(step.key):
                    if _has_closure(step.call, self.facts):
                        return None  # the closure recomputes the gradients
                    return step
        return None

    # -- the fix ----------------------------------------------------------------------------------
    def _fix(self, line: cst.SimpleStatementLine, step: _Step) -> FixPlan | None:
        if len(line.body) != 1 or step.line is None:
            return None
        code = self.context.code(line.body[0])
        return FixPlan(
            "Move the `zero_grad()` call after the step",
            Applicability.UNSAFE,
            (RemoveStatement(line), InsertAfter(step.line, code)),
        )


def _has_closure(step: cst.Call, facts: TorchFacts) -> bool:
    recv = receiver(step)
    if recv is not None and is_scaler(recv, facts):
        return len(step.args) > 1
    return bool(step.args)
