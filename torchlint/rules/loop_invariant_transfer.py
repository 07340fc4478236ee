"""TL105 loop-invariant-transfer.

``w = class_weights.to(device)`` inside a loop copies the same host tensor to the device on every
iteration, although neither the tensor nor the device changes: one copy before the loop does.

Not reported: ``x.to(x.device)`` / ``x.to(device=x.device, dtype=...)``, which move nothing (the
tensor is already there); loops over a model's modules (``for m in model.modules():``), which run
once, as surgery, and move a tensor only for the modules that match; and test code.
"""

from __future__ import annotations

from typing import Literal

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import binds, target_binds
from torchlint.analysis.devices import is_device_like, names_host
from torchlint.analysis.timing import reads_clock
from torchlint.analysis.training_loops import Loop, enclosing_loops
from torchlint.analysis.walk import PathUp, walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertBefore, RemoveStatement
from torchlint.rule import Rule

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_SHORT = 50
# Iterating these walks a model's structure once: module surgery, not per-step work.
_MODULE_WALKS = frozenset({"modules", "named_modules", "children", "named_children"})


def _walks_modules(loop: Loop) -> bool:
    if not isinstance(loop, cst.For):
        return False
    iterable = loop.iter
    return (
        isinstance(iterable, cst.Call)
        and isinstance(iterable.func, cst.Attribute)
        and iterable.func.attr.value in _MODULE_WALKS
    )


def _device_of(device: cst.BaseExpression | None) -> str | None:
    """``x`` for a device given as ``x.device``."""
    if isinstance(device, cst.Attribute) and device.attr.value == "device":
        return binding_key(device.value)
    return None


def _names_in(expr: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Name):
            found.add(node.value)
        if isinstance(node, cst.Attribute):
            walk(node.value, visit)
            return False
        return True

    walk(expr, visit)
    return found


def _changes(loop: Loop, key: str) -> bool:
    """Whether the loop assigns ``key`` (or a prefix of it) or mutates it in place."""
    found = False

    def touches(target: cst.BaseExpression) -> bool:
        target_key = binding_key(target)
        if target_key is None:
            return False
        base = target_key.removesuffix("[]")
        if target_key.endswith("[]"):
            return base == key  # ``key[i] = ...`` writes into the tensor
        return base == key or key.startswith(base + ".") or base.startswith(key + ".")

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if found:
            return False
        if isinstance(node, cst.Assign):
            found = any(touches(t.target) for t in node.targets)
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
            found = touches(node.target)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            if (method.endswith("_") and not method.startswith("_")) or method == "cpu":
                # key.copy_(...), key.add_(...); key.cpu(): moved back and forth on purpose
                found = binding_key(node.func.value) == key
            if not found:
                found = any(
                    a.keyword is not None
                    and a.keyword.value == "out"
                    and binding_key(a.value) == key
                    for a in node.args
                )
        return not found

    walk(loop, visit)
    return found


class LoopInvariantTransfer(Rule):
    code = "TL105"
    name = "loop-invariant-transfer"
    summary = "The same loop-invariant tensor is copied to a device on every iteration of a loop"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.UNSAFE
    needles = (".to(", ".cuda(")
    report_in_tests = False  # tests move fixtures in loops over cases; nothing to speed up

    def setup(self) -> None:
        self._changed: dict[tuple[int, str], bool] = {}

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("to", "cuda"):
            return
        if self.context.qualified_name(func) is not None:
            return
        key = binding_key(func.value)
        if key is None or "[]" in key or key == "self":
            return
        if self._moves_to_own_device(node, key):
            return  # ``x.to(x.device)``: already there, nothing is copied
        device = self._device(node, func.attr.value)
        if device is False:
            return
        parent = self.context.stack[-2] if len(self.context.stack) >= 2 else None
        if isinstance(parent, cst.Expr):
            return  # the result is dropped: a module moved in place, or TL006's business
        path = self.context.path_up()
        loops = enclosing_loops(path, self.facts)
        if not loops or loops[0].guarded:
            return
        loop = loops[0].loop
        if _walks_modules(loop):
            return  # module surgery runs once; the move happens for the matching modules only
        root = key.split(".", 1)[0]
        watched = {root} | (_names_in(device) if device is not None else set())
        if any(self._bound_between(path, loop, name) for name in watched):
            return
        if any(binds(loop, name) for name in watched):
            return
        if self._changed_in(loop, key):
            return
        if reads_clock(loop.body, self.facts.names):
            return  # a benchmark: the transfer may be part of what it measures
        code = self.context.code(node)
        shown = (
            code if len(code) <= _SHORT and "\n" not in code else f"{key}.{func.attr.value}(...)"
        )
        self.report(
            node,
            f"`{shown}` copies the same tensor to the device on every iteration: neither `{key}` "
            "nor the device changes in the loop, so copy it once before the loop",
            fix=self._hoist(node, loop),
        )

    def _moves_to_own_device(self, call: cst.Call, key: str) -> bool:
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value == "device":
                return _device_of(arg.value) == key
        return False

    def _device(self, call: cst.Call, method: str) -> cst.BaseExpression | None | Literal[False]:
        """The device expression (None for a bare ``.cuda()``), or False when not a device move."""
        names = self.facts.names
        if method == "cuda":
            for arg in call.args:
                if arg.keyword is None or arg.keyword.value == "device":
                    return arg.value
            return None  # the current CUDA device
        if not call.args or call.args[0].star:
            return False
        first = call.args[0]
        if first.keyword is not None and first.keyword.value != "device":
            return False
        if any(a.keyword is None for a in call.args[1:]):
            return False  # ``.to(device, dtype)``: a cast too; keep to plain transfers
        if not is_device_like(first.value, names) or names_host(first.value, names):
            return False
        return first.value

    def _bound_between(self, path: PathUp, loop: Loop, name: str) -> bool:
        """A comprehension between the call and the loop binds ``name``."""
        for ancestor, _child in path:
            if ancestor is loop:
                return False
            if isinstance(ancestor, _COMPREHENSIONS):
                comp: cst.CompFor | None = ancestor.for_in
                while comp is not None:
                    if target_binds(comp.target, name):
                        return True
                    comp = comp.inner_for_in
        return False

    def _changed_in(self, loop: Loop, key: str) -> bool:
        cache_key = (id(loop), key)
        known = self._changed.get(cache_key)
        if known is None:
            known = self._changed[cache_key] = _changes(loop, key)
        return known

    def _hoist(self, node: cst.Call, loop: Loop) -> FixPlan | None:
        """Move ``name = X.to(device)`` above the loop, when it is a plain statement of its body."""
        stack = self.context.stack
        if len(stack) < 5:
            return None
        assign, line, block = stack[-2], stack[-3], stack[-4]
        if not (
            isinstance(assign, cst.Assign)
            and assign.value is node
            and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name)
            and isinstance(line, cst.SimpleStatementLine)
            and len(line.body) == 1
            and block is loop.body
            and isinstance(block, cst.IndentedBlock)
        ):
            return None
        target = assign.targets[0].target.value
        others = [s for s in block.body if s is not line]
        if target_binds(loop.target, target) if isinstance(loop, cst.For) else False:
            return None
        if any(binds(s, target) for s in others) or (
            loop.orelse is not None and binds(loop.orelse, target)
        ):
            return None
        text = self.context.code(assign)
        comment = line.trailing_whitespace.comment
        if comment is not None:
            text = f"{text}  {comment.value}"
        return FixPlan(
            "Copy it once, before the loop",
            Applicability.UNSAFE,
            (InsertBefore(loop, text), RemoveStatement(line, len(block.body) == 1)),
        )
