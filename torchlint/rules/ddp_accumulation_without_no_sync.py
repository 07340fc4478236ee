"""TL505 ddp-accumulation-without-no-sync.

DistributedDataParallel all-reduces gradients during every backward pass. With gradient
accumulation the optimizer steps only every k micro-batches, so k - 1 of those all-reduces are
wasted communication unless the intermediate backwards run under ``model.no_sync()``.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.distributed import contains_call, is_ddp_call
from torchlint.analysis.names import dotted_name
from torchlint.analysis.training_loops import (
    Loop,
    is_backward,
    is_step_guard,
    loop_counters,
    step_target,
    steps_directly,
)
from torchlint.analysis.walk import SCOPES, walk
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

# Context managers known not to touch gradient synchronisation.
_NEUTRAL_CONTEXTS = frozenset(
    {
        "torch.autocast",
        "torch.amp.autocast",
        "torch.cuda.amp.autocast",
        "torch.cpu.amp.autocast",
        "torch.enable_grad",
        "torch.set_grad_enabled",
        "torch.autograd.profiler.record_function",
        "torch.profiler.record_function",
        "contextlib.nullcontext",
    }
)
_SYNC_CONTROL = re.compile(r"no_sync|require_backward_grad_sync|accumulate|join")


class _LoopScan:
    """Steps and backwards of one loop body, with the ``if``/``with`` statements around each."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.steps: list[tuple[cst.Call, list[cst.CSTNode]]] = []
        self.backwards: list[tuple[cst.Call, list[cst.CSTNode]]] = []
        self.mentions_sync_control = False
        self.names: set[str] = set()


class DdpAccumulationWithoutNoSync(Rule):
    code = "TL505"
    name = "ddp-accumulation-without-no-sync"
    summary = (
        "Gradient accumulation with a DDP model runs every backward outside `model.no_sync()`, "
        "all-reducing gradients on steps that do not update"
    )
    category = Category.DEVICE
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    preview = True
    needles = ("DistributedDataParallel",)

    def setup(self) -> None:
        self._ddp: set[tuple[int, str]] = set()  # (scope id, key); scope 0 for ``self.x``
        self._loops: list[tuple[Loop, int]] = []

    def _scope_id(self) -> int:
        return id(self.context.enclosing(cst.FunctionDef) or self.context.module)

    def visit_Assign(self, node: cst.Assign) -> None:
        names = self.facts.names
        if contains_call(node.value, lambda n: is_ddp_call(n, names)) is None:
            return
        for target in node.targets:
            key = binding_key(target.target)
            if key is not None:
                scope = 0 if key.startswith("self.") else self._scope_id()
                self._ddp.add((scope, key))

    def visit_For(self, node: cst.For) -> None:
        self._consider(node)

    def visit_While(self, node: cst.While) -> None:
        self._consider(node)

    def _consider(self, loop: Loop) -> None:
        if self.facts.loop(loop).is_training_loop and steps_directly(loop, self.facts):
            self._loops.append((loop, self._scope_id()))

    def leave_Module(self, node: cst.Module) -> None:
        if not self._ddp:
            return
        module_scope = id(node)
        for loop, scope in self._loops:
            keys = {k for s, k in self._ddp if s in (0, scope, module_scope)}
            if keys:
                self._check(loop, keys)

    # -- one loop ----------------------------------------------------------------------------------
    def _check(self, loop: Loop, ddp_keys: set[str]) -> None:
        scan = self._scan(loop)
        if scan.mentions_sync_control or not scan.steps or not scan.backwards:
            return
        if not scan.names & {k.split(".", 1)[0] for k in ddp_keys} and not any(
            k in scan.names for k in ddp_keys
        ):
            return  # the loop does not use the DDP model
        counters = loop_counters(loop)
        if not all(self._guarded(around, counters) for _, around in scan.steps):
            return  # the optimizer steps every iteration: nothing is accumulated
        for call, around in scan.backwards:
            if self._guarded(around, counters) or self._in_context(around):
                continue
            self.report(
                call,
                "this backward all-reduces gradients across ranks on every micro-batch, but the "
                "optimizer steps only under the accumulation guard: run the non-stepping "
                "backwards inside `model.no_sync()` to skip the wasted communication",
            )

    def _scan(self, loop: Loop) -> _LoopScan:
        scan = _LoopScan(loop)
        facts = self.facts
        stack: list[cst.CSTNode] = []

        def visit(node: cst.CSTNode) -> bool:
            if isinstance(node, (*SCOPES, cst.For, cst.While)):
                return False
            if isinstance(node, cst.Name):
                scan.names.add(node.value)
                if _SYNC_CONTROL.search(node.value):
                    scan.mentions_sync_control = True
            elif isinstance(node, cst.Attribute):
                key = binding_key(node)
                if key is not None:
                    scan.names.add(key)
                if _SYNC_CONTROL.search(node.attr.value):
                    scan.mentions_sync_control = True
            elif isinstance(node, cst.Call):
                if is_backward(node, facts):
                    scan.backwards.append((node, list(stack)))
                elif step_target(node, facts) is not None:
                    scan.steps.append((node, list(stack)))
            stack.append(node)
            return True

        def leave(node: cst.CSTNode) -> None:
            stack.pop()

        for statement in _body(loop):
            walk(statement, visit, leave)
        return scan

    def _guarded(self, around: list[cst.CSTNode], counters: set[str]) -> bool:
        for i, node in enumerate(around):
            child = around[i + 1] if i + 1 < len(around) else None
            if isinstance(node, cst.If) and child is node.body:
                if is_step_guard(node.test, counters):
                    return True
        return False

    def _in_context(self, around: list[cst.CSTNode]) -> bool:
        """Under a ``with`` whose context manager is not known to leave syncing alone."""
        for node in around:
            if not isinstance(node, cst.With):
                continue
            for item in node.items:
                value = item.item
                func = value.func if isinstance(value, cst.Call) else value
                qualified = self.context.qualified_name(func) or dotted_name(func)
                if qualified not in _NEUTRAL_CONTEXTS:
                    return True
        return False


def _body(loop: Loop) -> list[cst.CSTNode]:
    body = loop.body
    if isinstance(body, cst.IndentedBlock):
        return list(body.body)
    return list(body.body) if isinstance(body, cst.SimpleStatementSuite) else []
