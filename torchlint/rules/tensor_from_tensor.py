"""TL018 tensor-from-tensor.

``torch.tensor(t)`` on a tensor copies it through the generic data path and warns ("To copy
construct from a tensor, it is recommended to use sourceTensor.clone().detach()"); the intent,
a copy detached from the graph, is spelled ``t.clone().detach()``.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.dataflow import reaching_assignment
from torchlint.analysis.tensors import is_tensor_like, is_tensor_proven, scope_tensor_names
from torchlint.analysis.walk import PathUp
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)
# Calls that return a tuple (or a named tuple) of tensors, not a tensor.
_TUPLE_RETURNING = frozenset(
    {
        "chunk", "split", "tensor_split", "hsplit", "vsplit", "dsplit", "unbind", "topk", "sort",
        "max", "min", "median", "mode", "kthvalue", "unique", "unique_consecutive", "meshgrid",
        "broadcast_tensors", "aminmax", "std_mean", "var_mean", "frexp", "cummax", "cummin",
        "svd", "qr", "eig", "eigh", "slogdet", "lu", "histogram", "where", "nonzero",
    }
)  # fmt: skip
_KEPT_KEYWORDS = ("dtype", "device", "requires_grad")


def _data_argument(call: cst.Call) -> cst.Arg | None:
    for arg in call.args:
        if arg.star:
            return None
    for arg in call.args:
        if arg.keyword is None:
            return arg
        break
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "data":
            return arg
    return None


def _callee_name(call: cst.Call) -> str | None:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


class TensorFromTensor(Rule):
    code = "TL018"
    name = "tensor-from-tensor"
    summary = "`torch.tensor(t)` called on a tensor instead of `t.clone().detach()`"
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.SAFE
    needles = ("tensor(",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != "torch.tensor":
            return
        data = _data_argument(node)
        if data is None:
            return
        path = self.context.path_up()
        names = self.facts.names
        known = scope_tensor_names(path, names)
        if not is_tensor_like(data.value, names, path=path, known=known):
            return
        if self._maybe_tuple(data.value, path):
            return
        shown = self.context.code(data.value)
        short = len(shown) <= 40 and "\n" not in shown
        what = f"`{shown}`" if short else "its argument"
        self.report(
            node,
            f"`torch.tensor(...)` copies a tensor ({what}) through the generic data path and warns; "
            "use `.clone().detach()` to copy a tensor",
            fix=self._fix(node, data, is_tensor_proven(data.value, names, path=path, known=known)),
        )

    def _maybe_tuple(self, expr: cst.BaseExpression, path: PathUp) -> bool:
        """Whether the value may be a tuple of tensors (``x.chunk(2)``, ``torch.max(x, 1)``)."""
        for _ in range(5):
            if isinstance(expr, cst.Name):
                found = reaching_assignment(path, expr.value)
                if found is None:
                    return False
                expr, path = found.value, [(found.statement, found.value), *found.path]
                continue
            if isinstance(expr, cst.Call):
                return _callee_name(expr) in _TUPLE_RETURNING
            return False
        return True

    def _fix(self, call: cst.Call, data: cst.Arg, proven: bool) -> FixPlan | None:
        """Safe on a proven tensor; elsewhere (``x = obj.detach()`` of an unknown ``obj``) the
        argument may be another class, whose ``.clone()`` is not a tensor copy: unsafe."""
        value = data.value
        code = self.context.code(value)
        if not isinstance(value, _ATOMIC) and not value.lpar:
            code = f"({code})"
        code += ".clone().detach()"
        conversions: list[str] = []
        requires_grad: str | None = None
        for arg in call.args:
            if arg is data:
                continue
            if arg.keyword is None or arg.keyword.value not in _KEPT_KEYWORDS:
                return None  # ``pin_memory=`` or a positional: no simple equivalent
            text = self.context.code(arg.value)
            if arg.keyword.value == "requires_grad":
                requires_grad = text
            else:
                conversions.append(f"{arg.keyword.value}={text}")
        if conversions:
            code += f".to({', '.join(conversions)})"
        if requires_grad is not None:
            code += f".requires_grad_({requires_grad})"
        applicability = Applicability.SAFE if proven else Applicability.UNSAFE
        return FixPlan("Use `.clone().detach()`", applicability, (Replace(call, code),))
