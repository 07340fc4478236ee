"""TL015 scheduler-before-optimizer-step.

Since torch 1.1 a learning-rate scheduler is stepped *after* the optimizer. Stepping it first skips
the schedule's first value (torch warns once) and shifts the whole schedule by one step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.training_loops import (
    call_attr,
    expr_key,
    is_optimizer,
    receiver,
    stepping_loop_of,
)
from torchlint.analysis.walk import walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertAfter, RemoveStatement
from torchlint.rule import Rule

_SCHEDULER_NAME = re.compile(r"sched|lr_?scheduler", re.IGNORECASE)
_SCHEDULER_FACTORIES = re.compile(r"(^|\.)get_\w*schedule\w*$|(^|\.)get_scheduler$")

_Block = (cst.IndentedBlock, cst.SimpleStatementSuite, cst.SimpleStatementLine)
# (id of a statement list, index of the statement in it), from the loop body down.
Chain = list[tuple[int, int]]


def _chain(stack: Sequence[cst.CSTNode]) -> Chain:
    """The statement-list positions along ``stack`` (ancestors, outermost first)."""
    chain: Chain = []
    for parent, child in zip(stack, stack[1:], strict=False):
        if isinstance(parent, _Block):
            for index, statement in enumerate(parent.body):
                if statement is child:
                    chain.append((id(parent), index))
                    break
    return chain


def _stack_in(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.CSTNode] | None:
    """The ancestor stack of ``target`` inside ``root`` (``root`` first, ``target`` last)."""
    stack: list[cst.CSTNode] = []
    found: list[cst.CSTNode] | None = None

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if found is not None:
            return False
        stack.append(node)
        if node is target:
            found = list(stack)
            return False
        return True

    def leave(node: cst.CSTNode) -> None:
        stack.pop()

    walk(root, visit, leave)
    return found


def _compare(first: Chain, second: Chain) -> int | None:
    """-1 when ``first`` runs before ``second`` in straight-line order, 1 after, else None."""
    for (block_a, index_a), (block_b, index_b) in zip(first, second, strict=False):
        if block_a != block_b:
            return None  # different branches of one statement
        if index_a != index_b:
            return -1 if index_a < index_b else 1
    return None


class SchedulerBeforeOptimizerStep(Rule):
    code = "TL015"
    name = "scheduler-before-optimizer-step"
    summary = "A learning-rate scheduler is stepped before the optimizer in the same training loop"
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.UNSAFE
    # Tests step schedulers to exercise them, not to follow a schedule.
    report_in_tests = False
    needles = ("step",)

    def visit_Call(self, node: cst.Call) -> None:
        if call_attr(node) != "step" or node.args:
            return  # ``step(metric)`` / ``step(epoch)``: plateau or explicit-epoch schedulers
        sched = receiver(node)
        assert sched is not None
        optimizer_key = self._scheduler_optimizer(sched)
        if optimizer_key is None:
            return
        where = stepping_loop_of(self.context.path_up(), self.facts)
        if where is None or where.guarded:
            return  # ``if epoch > 0: scheduler.step()`` steps for the previous iteration
        loop = where.loop
        stack = self.context.stack
        start = next((i for i, n in enumerate(stack) if n is loop.body), None)
        if start is None:
            return
        sched_chain = _chain(stack[start:])
        steps = [
            (call, key)
            for call, key, _ in self.facts.loop(loop).steps
            if optimizer_key == "?" or key == optimizer_key
        ]
        after: list[Chain] = []
        for call, _key in steps:
            found = _stack_in(loop.body, call)
            if found is None:
                continue
            order = _compare(sched_chain, _chain(found))
            if order == 1 and optimizer_key == "?":
                return  # some optimizer already stepped: a GAN's second scheduler, say
            if order == -1:
                after.append(_chain(found))
        if not after:
            return
        shown = self.context.code(sched)
        self.report(
            node,
            f"`{shown}.step()` runs before the optimizer's `step()` in this training loop: the "
            "schedule's first learning rate is skipped and every update uses the next one; "
            "step the scheduler after the optimizer",
            fix=self._fix(stack[start:], sched_chain, after),
        )

    def _scheduler_optimizer(self, sched: cst.BaseExpression) -> str | None:
        """The key of the optimizer ``sched`` schedules; ``"?"`` when unknown; None: no scheduler."""
        key = binding_key(sched)
        if key is None or is_optimizer(sched, self.facts):
            return None
        values = self.facts.bindings.values.get(key, ())
        known = False
        optimizers: set[str] = set()
        for value in values:
            if not isinstance(value, cst.Call):
                continue
            callee = self.context.qualified_name(value.func) or ""
            if callee.endswith("ReduceLROnPlateau"):
                return None
            if ".lr_scheduler." in callee or _SCHEDULER_FACTORIES.search(callee):
                known = True
                target = _optimizer_argument(value)
                optimizers.add(expr_key(target) if target is not None else "?")
        if not known and not _SCHEDULER_NAME.search(last_component(key)):
            return None
        if len(optimizers) == 1:
            return optimizers.pop()
        return "?"

    def _fix(
        self, stack: Sequence[cst.CSTNode], sched_chain: Chain, after: list[Chain]
    ) -> FixPlan | None:
        # The statement lists along the scheduler's path, to find the one shared with the step.
        blocks = [n for n in stack if isinstance(n, _Block)]
        last = max(after)
        depth = 0
        while depth < min(len(sched_chain), len(last)) and sched_chain[depth] == last[depth]:
            depth += 1
        if depth >= len(sched_chain) or depth >= len(blocks):
            return None
        block = blocks[depth]
        if not isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            return None
        if depth != len(sched_chain) - 2:
            return None  # the scheduler sits deeper (inside an ``if``): leave it to the user
        statement = block.body[sched_chain[depth][1]]
        if not (
            isinstance(statement, cst.SimpleStatementLine)
            and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(block, cst.IndentedBlock)
        ):
            return None
        anchor = block.body[last[depth][1]]
        code = self.context.code(statement.with_changes(leading_lines=())).rstrip("\r\n")
        return FixPlan(
            "Step the scheduler after the optimizer",
            Applicability.UNSAFE,
            (RemoveStatement(statement), InsertAfter(anchor, code)),
        )


def _optimizer_argument(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "optimizer":
            return arg.value
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        break
    return None
