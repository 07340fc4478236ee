"""TL305 autograd-variable.

``torch.autograd.Variable`` has been a thin compatibility shim since torch 0.4 merged it into
``torch.Tensor``; ``volatile=`` has no effect at all since then (it warns and still builds a graph).
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.deprecated_imports import DeprecatedImportsRule, PendingImport
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace

_VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})
# torch functions that return a fresh tensor with no autograd history.
_FRESH = frozenset(
    {
        "tensor", "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm",
        "arange", "linspace", "logspace", "eye", "from_numpy", "zeros_like", "ones_like",
        "empty_like", "full_like", "rand_like", "randn_like", "randint_like", "Tensor",
        "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "ByteTensor", "BoolTensor",
        "HalfTensor",
    }
)  # fmt: skip
_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)


def _method(
    value: cst.BaseExpression, name: str, arg: cst.BaseExpression | None = None
) -> cst.Call:
    args = [cst.Arg(arg)] if arg is not None else []
    return cst.Call(func=cst.Attribute(value=value, attr=cst.Name(name)), args=args)


class AutogradVariable(DeprecatedImportsRule):
    code = "TL305"
    name = "autograd-variable"
    summary = "`torch.autograd.Variable(...)` (and its no-op `volatile=`) instead of plain tensors"
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("Variable",)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        """``from torch.autograd import Variable``: reported (with a fix that removes it) once the
        fixes have rewritten every use, so that no unused import is left behind."""
        found = [
            (alias, local, qualified)
            for alias, local, qualified in self.imported_names(node)
            if qualified in _VARIABLE
        ]
        if found and self.note_import(node):
            self.defer_import_report(node, found)

    def report_import(self, pending: PendingImport, fix: FixPlan | None) -> None:
        if fix is not None:
            self.report(pending.node, "unused import of the deprecated `Variable`", fix=fix)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) not in _VARIABLE:
            return
        volatile = self._keyword(node, "volatile")
        message = (
            "`Variable(...)` is a deprecated no-op wrapper since torch 0.4: use the tensor itself "
            "(`requires_grad_()` where gradients are needed)"
        )
        if volatile is not None:
            message += "; `volatile=` has no effect (a graph is still built): use `torch.no_grad()`"
        self.report(node, message, fix=self._fix(node))

    @staticmethod
    def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == name:
                return arg
        return None

    def _fix(self, call: cst.Call) -> FixPlan | None:
        data: cst.BaseExpression | None = None
        requires_grad: cst.BaseExpression | None = None
        positional = 0
        for arg in call.args:
            if arg.star:
                return None
            if arg.keyword is None:
                positional += 1
                if positional == 1:
                    data = arg.value
                elif positional == 2:
                    requires_grad = arg.value
                else:
                    return None
            elif arg.keyword.value == "data":
                data = arg.value
            elif arg.keyword.value == "requires_grad":
                requires_grad = arg.value
            elif arg.keyword.value != "volatile":
                return None
        if data is None:
            return None
        code = self.context.code(data)
        new: cst.BaseExpression = data
        if not isinstance(data, _ATOMIC) and not data.lpar:
            code = f"({code})"
            new = data.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        if not self._fresh(data):
            code += ".detach()"  # what Variable(x) returned: x's data, cut from x's graph
            new = _method(new, "detach")
        if requires_grad is not None:
            flag = self.context.code(requires_grad)
            if flag == "True":
                code += ".requires_grad_()"
                new = _method(new, "requires_grad_")
            elif flag != "False":
                code += f".requires_grad_({flag})"
                new = _method(new, "requires_grad_", requires_grad)
        # The data node keeps its own line breaks and indentation (a multi-line argument).
        return FixPlan(
            f"Replace `Variable(...)` with `{code}`" if len(code) <= 60 else "Drop `Variable(...)`",
            Applicability.UNSAFE,
            (Replace(call, new, self.context.block_indent()),),
        )

    def _fresh(self, data: cst.BaseExpression) -> bool:
        if not isinstance(data, cst.Call):
            return False
        qualified = self.context.qualified_name(data.func) or ""
        return qualified.startswith("torch.") and qualified.rsplit(".", 1)[-1] in _FRESH
