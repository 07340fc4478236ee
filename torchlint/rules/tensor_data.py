"""TL016 tensor-data-attribute.

``t.data`` is a tensor sharing ``t``'s storage that autograd does not track: in-place changes made
through it are invisible to the version counter, so a backward pass can silently use values that
were overwritten after the forward. It is a pre-0.4 API kept for compatibility.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.tensors import (
    is_parameter_constructor,
    is_tensor_function,
    is_tensor_like,
    scope_tensor_names,
)
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

# ``m.weight.data``: attributes that hold parameters or buffers of a module.
PARAMETER_ATTRIBUTES = frozenset({"weight", "bias", "running_mean", "running_var"})


def _assignment_target(node: cst.CSTNode, parent: cst.CSTNode | None) -> bool:
    if isinstance(parent, cst.AssignTarget):
        return parent.target is node
    if isinstance(parent, (cst.AugAssign, cst.AnnAssign)):
        return parent.target is node
    return isinstance(parent, (cst.Del, cst.For, cst.AsName))


class TensorDataAttribute(Rule):
    code = "TL016"
    name = "tensor-data-attribute"
    summary = "`.data` on a tensor or parameter, which hides changes from autograd"
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.UNSAFE
    needles = (".data",)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "data":
            return
        value = node.value
        if not self._tensor_like(value):
            return
        shown = self.context.code(value)
        short = len(shown) <= 40 and "\n" not in shown
        what = f"`{shown}.data`" if short else "`.data`"
        stack = self.context.stack
        parent = stack[-2] if len(stack) >= 2 else None
        fix = None
        if not _assignment_target(node, parent) and self._reassigned_in_place(node):
            return  # ``p.data = p.data.to(dtype)``: one finding, on the target
        if _assignment_target(node, parent):
            advice = "copy into the tensor under `torch.no_grad()` instead (`t.copy_(new)`)"
        else:
            advice = "use `.detach()`, or update the tensor in place under `torch.no_grad()`"
            fix = FixPlan(
                "Use `.detach()` instead of `.data`",
                Applicability.UNSAFE,
                (Replace(node.attr, "detach()"),),
            )
        self.report(
            node,
            f"{what} gives a view of the tensor that autograd does not track, so changes made "
            f"through it can silently corrupt gradients: {advice}",
            fix=fix,
        )

    def _reassigned_in_place(self, node: cst.Attribute) -> bool:
        """Whether ``node`` is read in the value of an assignment to the same ``.data``."""
        written = self.context.code(node)
        for ancestor, child in self.context.path_up():
            if isinstance(ancestor, cst.Assign) and child is ancestor.value:
                return any(
                    isinstance(t.target, cst.Attribute) and self.context.code(t.target) == written
                    for t in ancestor.targets
                )
            if isinstance(ancestor, (cst.BaseStatement, cst.Lambda)):
                return False
        return False

    def _tensor_like(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.Attribute) and value.attr.value in PARAMETER_ATTRIBUTES:
            return self.facts.names.imports_from("torch")
        path = self.context.path_up()
        known = scope_tensor_names(path, self.facts.names)
        key = binding_key(value)
        if key is not None and key.startswith("self.") and self._tensor_attribute(key):
            known.add(key)
        return is_tensor_like(value, self.facts.names, path=path, known=known)

    def _tensor_attribute(self, key: str) -> bool:
        """``self.w`` bound only to ``nn.Parameter(...)`` or tensor functions in this file."""
        values = self.facts.bindings.values.get(key, ())
        if not values:
            return False
        for value in values:
            if not isinstance(value, cst.Call):
                return False
            qualified = self.context.qualified_name(value.func)
            if qualified is None:
                return False
            if not (is_parameter_constructor(qualified) or is_tensor_function(qualified)):
                return False
        return True
