"""TL107 zero-grad-set-to-none-false.

``zero_grad(set_to_none=False)`` writes zeros into every gradient tensor (a memset kernel per
parameter, and the gradients stay allocated) where the default, ``set_to_none=True``, drops them.

Code that writes into gradients in place (``p.grad += g``, ``p.grad.add_(g)``, ``p.grad.copy_(g)``)
needs them allocated and zeroed: there ``set_to_none=False`` is what the code requires, not waste.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule


def _is_grad(expr: cst.BaseExpression) -> bool:
    """``X.grad``, ``X.grad.data`` or a subscript of either."""
    while isinstance(expr, cst.Subscript):
        expr = expr.value
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        expr = expr.value
    return isinstance(expr, cst.Attribute) and expr.attr.value == "grad"


class _InPlaceGradWrites(Walker):
    """Finds ``p.grad += g``, ``p.grad[...] = g``, ``p.grad.add_(g)``, ``p.grad.data.copy_(g)``."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if _is_grad(node.target):
            self.found = True

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Subscript) and _is_grad(target.target):
                self.found = True

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method.endswith("_") and not method.startswith("_") and _is_grad(func.value):
                self.found = True


def _set_to_none_false(call: cst.Call) -> cst.Arg | None:
    """The argument passing a literal ``False`` as ``set_to_none``, if any."""
    for index, arg in enumerate(call.args):
        if arg.star:
            return None
        named = arg.keyword is not None and arg.keyword.value == "set_to_none"
        if named or (arg.keyword is None and index == 0):
            value = arg.value
            if isinstance(value, cst.Name) and value.value == "False":
                return arg
            return None
    return None


def _without(call: cst.Call, arg: cst.Arg) -> cst.Call:
    """``call`` without ``arg``; ``f(  # note\n    set_to_none=False,\n)`` keeps its comment."""
    kept = [a for a in call.args if a is not arg]
    if kept:
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return call.with_changes(args=kept)
    before = call.whitespace_before_args
    if not isinstance(before, cst.ParenthesizedWhitespace):
        return call.with_changes(args=(), whitespace_before_args=cst.SimpleWhitespace(""))
    tail = arg.comma.whitespace_after if isinstance(arg.comma, cst.Comma) else None
    if tail is None or not isinstance(tail, cst.ParenthesizedWhitespace):
        tail = arg.whitespace_after_arg
    if isinstance(tail, cst.ParenthesizedWhitespace):
        before = before.with_changes(indent=tail.indent, last_line=tail.last_line)
    elif before.first_line.comment is None and not before.empty_lines:
        return call.with_changes(args=(), whitespace_before_args=cst.SimpleWhitespace(""))
    return call.with_changes(args=(), whitespace_before_args=before)


class ZeroGradSetToNoneFalse(Rule):
    code = "TL107"
    name = "zero-grad-set-to-none-false"
    summary = "`zero_grad(set_to_none=False)` fills gradients with zeros instead of freeing them"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("zero_grad",)

    def setup(self) -> None:
        self._writes_grads: bool | None = None

    def _file_writes_grads(self) -> bool:
        if self._writes_grads is None:
            finder = _InPlaceGradWrites()
            finder.walk(self.context.module)
            self._writes_grads = finder.found
        return self._writes_grads

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "zero_grad":
            return
        if self.context.qualified_name(func) is not None:
            return  # a module-level function of some library, not Optimizer/Module.zero_grad
        arg = _set_to_none_false(node)
        if arg is None:
            return
        if self._file_writes_grads():
            return  # ``p.grad += g`` later needs the zeroed tensors that ``False`` keeps
        fix = None
        version = self.context.torch_version
        if version is None or version >= (2, 0):
            # The default is ``set_to_none=True`` since torch 2.0: drop the argument.
            fix = FixPlan(
                "Drop `set_to_none=False` (the default frees the gradients)",
                Applicability.UNSAFE,
                (Replace(node, _without(node, arg), self.context.block_indent()),),
            )
        self.report(
            node,
            "`zero_grad(set_to_none=False)` launches a kernel per parameter to write zeros and "
            "keeps every gradient allocated; the default `set_to_none=True` frees them instead",
            fix=fix,
        )
