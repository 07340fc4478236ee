"""TL011 clip-before-unscale.

With mixed precision, ``scaler.scale(loss).backward()`` leaves every gradient multiplied by the
loss scale (65536 at first, then whatever the scaler has grown to). ``clip_grad_norm_`` then
compares that inflated norm with ``max_norm`` and shrinks the gradients far more than intended, by
a factor that changes whenever the scale does. ``scaler.unscale_(optimizer)`` must come first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.training_loops import call_attr, expr_key, is_backward, is_scaler, receiver
from torchlint.analysis.walk import SCOPES, walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertBefore
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

CLIPPING = frozenset(
    {
        "torch.nn.utils.clip_grad_norm_",
        "torch.nn.utils.clip_grad_value_",
        "torch.nn.utils.clip_grad_norm",
        "torch.nn.utils.clip_grad.clip_grad_norm_",
        "torch.nn.utils.clip_grad.clip_grad_value_",
        "torch.nn.utils.clip_grad.clip_grad_norm",
    }
)
_BLOCKS = (cst.IndentedBlock, cst.Module)


class _Events:
    """GradScaler calls and BACKWARDs of one statement, nested scopes excluded."""

    def __init__(self, statement: cst.CSTNode, facts: TorchFacts) -> None:
        self.scaled: set[str] = set()  # scalers whose ``scale(...)`` runs here
        self.unscaled: set[str] = set()
        self.steps: list[tuple[str, cst.Call]] = []  # (scaler key, ``scaler.step(X)``)
        self.backward = False

        def visit(node: cst.CSTNode) -> bool:
            if isinstance(node, SCOPES):
                return False
            if not isinstance(node, cst.Call):
                return True
            if is_backward(node, facts):
                self.backward = True
            attr = call_attr(node)
            recv = receiver(node)
            if (
                attr in ("scale", "unscale_", "step")
                and recv is not None
                and is_scaler(recv, facts)
            ):
                key = expr_key(recv)
                if attr == "scale":
                    self.scaled.add(key)
                elif attr == "unscale_":
                    self.unscaled.add(key)
                elif node.args and node.args[0].keyword is None:
                    self.steps.append((key, node))
            return True

        walk(statement, visit)


class ClipBeforeUnscale(Rule):
    code = "TL011"
    name = "clip-before-unscale"
    summary = (
        "Gradients clipped while still multiplied by the GradScaler's loss scale, because "
        "`scaler.unscale_(optimizer)` is not called first"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.MEDIUM
    fix_applicability = Applicability.SAFE
    needles = ("clip_grad",)

    def setup(self) -> None:
        self._events: dict[int, _Events] = {}

    def _of(self, statement: cst.CSTNode) -> _Events:
        found = self._events.get(id(statement))
        if found is None:
            found = self._events[id(statement)] = _Events(statement, self.facts)
        return found

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) not in CLIPPING:
            return
        levels = self._levels()
        scalers = self._scaled_before(levels)
        if not scalers:
            return
        found = self._step_after(levels, scalers)
        if found is None:
            return
        step, unscaled_after, crossed_loop = found
        scaler = receiver(step)
        assert scaler is not None
        spelled_scaler = self.context.code(scaler)
        optimizer = step.args[0].value
        spelled_optimizer = self.context.code(optimizer)
        clip = self.context.qualified_name(node.func).rsplit(".", 1)[-1]  # type: ignore[union-attr]
        self.report(
            node,
            f"`{clip}` runs on gradients still multiplied by the loss scale: call "
            f"`{spelled_scaler}.unscale_({spelled_optimizer})` before clipping, or the threshold "
            "is compared with scaled values",
            fix=None
            if unscaled_after or crossed_loop
            else self._fix(levels, spelled_scaler, optimizer, spelled_optimizer),
        )

    # -- where the clip runs --------------------------------------------------------------------
    def _levels(self) -> list[tuple[cst.CSTNode, int, bool]]:
        """(block, index of the statement holding the clip, a loop lies between) per enclosing
        block, nearest first, up to the enclosing function."""
        out: list[tuple[cst.CSTNode, int, bool]] = []
        looped = False
        for ancestor, child in self.context.path_up():
            if isinstance(ancestor, SCOPES):
                break
            if isinstance(ancestor, (cst.For, cst.While)) and child is ancestor.body:
                looped = True
            if isinstance(ancestor, _BLOCKS):
                body = list(ancestor.body)
                index = next((i for i, s in enumerate(body) if s is child), None)
                if index is not None:
                    out.append((ancestor, index, looped))
        return out

    def _scaled_before(self, levels: list[tuple[cst.CSTNode, int, bool]]) -> set[str]:
        """Scalers whose ``scale(loss).backward()`` precedes the clip with no ``unscale_`` since."""
        for block, index, _ in levels:
            body = list(block.body)  # type: ignore[attr-defined]
            for statement in reversed(body[:index]):
                events = self._of(statement)
                if events.unscaled:
                    return set()
                if events.scaled:
                    return events.scaled
        return set()

    def _step_after(
        self, levels: list[tuple[cst.CSTNode, int, bool]], scalers: set[str]
    ) -> tuple[cst.Call, bool, bool] | None:
        """The ``scaler.step(X)`` the clip precedes, whether an ``unscale_`` comes between, and
        whether a loop lies between the clip and the step."""
        unscaled = False
        for block, index, looped in levels:
            body = list(block.body)  # type: ignore[attr-defined]
            for statement in body[index + 1 :]:
                events = self._of(statement)
                for key, step in events.steps:
                    if key in scalers:
                        return step, unscaled or bool(events.unscaled), looped
                if events.backward:
                    return None
                unscaled = unscaled or bool(events.unscaled & scalers)
        return None

    # -- the fix ----------------------------------------------------------------------------------
    def _fix(
        self,
        levels: list[tuple[cst.CSTNode, int, bool]],
        scaler: str,
        optimizer: cst.BaseExpression,
        spelled_optimizer: str,
    ) -> FixPlan | None:
        if binding_key(optimizer) is None or not levels:
            return None
        block, index, _ = levels[0]
        statement = list(block.body)[index]  # type: ignore[attr-defined]
        if not isinstance(statement, cst.SimpleStatementLine) or not isinstance(
            block, cst.IndentedBlock
        ):
            return None
        code = f"{scaler}.unscale_({spelled_optimizer})"
        return FixPlan(
            f"Insert `{code}` before clipping", Applicability.SAFE, (InsertBefore(statement, code),)
        )
