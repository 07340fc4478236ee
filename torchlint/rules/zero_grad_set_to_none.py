"""TL107 zero-grad-set-to-none-false.

``zero_grad(set_to_none=False)`` writes zeros into every gradient tensor (a memset kernel per
parameter, and the gradients stay allocated) where the default, ``set_to_none=True``, drops them.
"""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule


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


class ZeroGradSetToNoneFalse(Rule):
    code = "TL107"
    name = "zero-grad-set-to-none-false"
    summary = "`zero_grad(set_to_none=False)` fills gradients with zeros instead of freeing them"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("zero_grad",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "zero_grad":
            return
        if self.context.qualified_name(func) is not None:
            return  # a module-level function of some library, not Optimizer/Module.zero_grad
        arg = _set_to_none_false(node)
        if arg is None:
            return
        self.report(
            node,
            "`zero_grad(set_to_none=False)` launches a kernel per parameter to write zeros and "
            "keeps every gradient allocated; the default `set_to_none=True` frees them instead",
            fix=FixPlan(
                "Use `set_to_none=True`",
                Applicability.UNSAFE,
                (Replace(arg.value, "True"),),
            ),
        )
