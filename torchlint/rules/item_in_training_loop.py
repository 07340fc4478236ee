"""TL101 item-in-training-loop.

``tensor.item()`` copies one number to the host, so it waits for every kernel queued before it. Once
per training step, that stalls the GPU's pipeline on every iteration.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.training_loops import per_iteration_training_loop, receiver
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

_SHORT = 40


class ItemInTrainingLoop(Rule):
    code = "TL101"
    name = "item-in-training-loop"
    summary = "`.item()` on every iteration of a training loop forces a host-device sync each step"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.DISPLAY_ONLY
    needles = (".item(",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "item") or node.args:
            return
        where = per_iteration_training_loop(self.context.path_up(), self.facts)
        if where is None or where.guarded:
            return
        recv = receiver(node)
        assert recv is not None
        value = self.context.code(recv)
        short = len(value) <= _SHORT and "\n" not in value
        shown = f"{value}.item()" if short else ".item()"
        kept = f"`{value}.detach()`" if short else "the tensor, detached"
        message = (
            f"`{shown}` runs on every iteration of the training loop and blocks until the device "
            "has finished all queued work"
        )
        suggestion = (
            f"Accumulate {kept} on the device and call `.item()` only where the value is printed "
            "or logged, or under a logging guard such as `if step % log_every == 0:`"
        )
        fix = None
        parent = self.context.stack[-2] if len(self.context.stack) >= 2 else None
        if isinstance(parent, cst.AugAssign) and parent.value is node:
            fix = FixPlan(
                f"Accumulate {kept} on the device instead",
                Applicability.DISPLAY_ONLY,
                (Replace(func.attr, "detach"),),
            )
        self.report(node, message, fix=fix, suggestion=suggestion)
