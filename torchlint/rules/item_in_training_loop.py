"""TL101 item-in-training-loop.

``tensor.item()`` copies one number to the host, so it waits for every kernel queued before it. Once
per training step, that stalls the GPU's pipeline on every iteration.

Not reported: a value that decides whether the loop stops (``if abs(prev - cur) < tol: break``),
where the host needs the number on every iteration by design.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.analysis.training_loops import per_iteration_training_loop, receiver
from torchlint.analysis.walk import SCOPES, Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

_SHORT = 40
# Calls that print or log their arguments: the value is shown on every step.
_SHOWS = frozenset(
    {
        "print",
        "log",
        "info",
        "debug",
        "warning",
        "set_postfix",
        "set_postfix_str",
        "set_description",
        "add_scalar",
        "add_scalars",
        "log_metrics",
        "log_dict",
        "write",
    }
)


class _Names(Walker):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _exits(block: cst.BaseSuite) -> bool:
    """A ``break`` or ``return`` among the block's own statements."""
    statements = block.body if isinstance(block, cst.IndentedBlock) else [block]
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            if any(isinstance(s, (cst.Break, cst.Return)) for s in statement.body):
                return True
        elif isinstance(statement, cst.SimpleStatementSuite):
            if any(isinstance(s, (cst.Break, cst.Return)) for s in statement.body):
                return True
    return False


def _stopping_tests(loop: cst.CSTNode) -> list[cst.BaseExpression]:
    """Tests of the ``if`` statements in ``loop``'s body that ``break`` or ``return``."""
    tests: list[cst.BaseExpression] = []

    class _Ifs(Walker):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_If(self, node: cst.If) -> None:
            if _exits(node.body):
                tests.append(node.test)

    _Ifs().walk(loop)
    return tests


class ItemInTrainingLoop(Rule):
    code = "TL101"
    name = "item-in-training-loop"
    summary = "`.item()` on every iteration of a training loop forces a host-device sync each step"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.DISPLAY_ONLY
    needles = (".item(",)
    report_in_tests = False  # a test's loop is short, and tests assert on the numbers

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "item") or node.args:
            return
        path = self.context.path_up()
        where = per_iteration_training_loop(path, self.facts)
        if where is None or where.guarded:
            return
        recv = receiver(node)
        assert recv is not None
        value = self.context.code(recv)
        if self._decides_stop(path, where.loop, node):
            return  # the loop's exit depends on the value, every iteration
        short = len(value) <= _SHORT and "\n" not in value
        shown = f"{value}.item()" if short else ".item()"
        kept = f"`{value}.detach()`" if short else "the tensor, detached"
        message = (
            f"`{shown}` runs on every iteration of the training loop and blocks until the device "
            "has finished all queued work"
        )
        parent = self.context.stack[-2] if len(self.context.stack) >= 2 else None
        suggestion = self._suggestion(path, parent, node, kept)
        fix = None
        if isinstance(parent, cst.AugAssign) and parent.value is node:
            fix = FixPlan(
                f"Accumulate {kept} on the device instead",
                Applicability.DISPLAY_ONLY,
                (Replace(func.attr, "detach"),),
            )
        self.report(node, message, fix=fix, suggestion=suggestion)

    def _suggestion(
        self,
        path: list[tuple[cst.CSTNode, cst.CSTNode]],
        parent: cst.CSTNode | None,
        node: cst.Call,
        kept: str,
    ) -> str:
        if isinstance(parent, cst.AugAssign) and parent.value is node:
            return (
                f"Accumulate {kept} on the device and call `.item()` on the total once, where it "
                "is printed or logged"
            )
        for ancestor, _child in path:
            if isinstance(ancestor, (cst.BaseSmallStatement, *SCOPES)):
                break
            if not isinstance(ancestor, cst.Call):
                continue
            name = dotted_name(ancestor.func) or ""
            last = name.rsplit(".", 1)[-1]
            if last in _SHOWS or last.startswith("log"):
                return (
                    "The value is printed or logged on every step: show it every N steps "
                    "instead, under a guard such as `if step % log_every == 0:` (the `.item()` "
                    f"then syncs only there), or keep {kept} and log an average after the loop"
                )
            if last == "append" and isinstance(ancestor.func, cst.Attribute):
                target = self.context.code(ancestor.func.value)
                if len(target) <= _SHORT and "\n" not in target:
                    return (
                        f"Append {kept} instead and convert the list once after the loop "
                        f"(`torch.stack({target}).tolist()`): one sync after the loop, not one "
                        "per step"
                    )
        return (
            f"Keep {kept} on the device and call `.item()` only where a Python number is needed, "
            "less often than every step: under a guard such as `if step % log_every == 0:`, or "
            "after the loop"
        )

    def _decides_stop(
        self, path: list[tuple[cst.CSTNode, cst.CSTNode]], loop: cst.CSTNode, node: cst.Call
    ) -> bool:
        """The value feeds the test of an ``if`` that leaves the loop (directly or by a name)."""
        tests = _stopping_tests(loop)
        if not tests:
            return False
        for ancestor, child in path:
            if isinstance(ancestor, cst.If) and child is ancestor.test and ancestor.test in tests:
                return True
            if isinstance(ancestor, cst.Assign) and child is ancestor.value:
                bound = {t.target.value for t in ancestor.targets if isinstance(t.target, cst.Name)}
                for test in tests:
                    finder = _Names()
                    finder.walk(test)
                    if bound & finder.names:
                        return True
                return False
            if isinstance(ancestor, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return False
        return False
