"""TL310 legacy-tensor-constructor.

``torch.Tensor(...)``, ``torch.FloatTensor(...)``, ``torch.cuda.LongTensor(...)``... are legacy
constructors: the same call builds a tensor *from data* or an *uninitialized tensor of a size*
depending on its argument, ignores ``requires_grad``/``device`` conventions and is undocumented
for new code. ``torch.tensor(data, dtype=...)`` and ``torch.empty(size, dtype=...)`` say which.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.spelling import spell
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, FixPlan, Replace
from torchlint.rule import Rule

_DTYPES = {
    "Tensor": "float32",
    "FloatTensor": "float32",
    "DoubleTensor": "float64",
    "HalfTensor": "float16",
    "BFloat16Tensor": "bfloat16",
    "ByteTensor": "uint8",
    "CharTensor": "int8",
    "ShortTensor": "int16",
    "IntTensor": "int32",
    "LongTensor": "int64",
    "BoolTensor": "bool",
}


def _constructor(qualified: str | None) -> tuple[str, bool] | None:
    """(type name, on CUDA) for ``torch.<T>`` / ``torch.cuda.<T>``."""
    if qualified is None:
        return None
    if qualified.startswith("torch.cuda."):
        name = qualified[len("torch.cuda.") :]
        return (name, True) if name in _DTYPES and name != "Tensor" else None
    if qualified.startswith("torch."):
        name = qualified[len("torch.") :]
        return (name, False) if name in _DTYPES else None
    return None


def _is_int_literal(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Integer)


class LegacyTensorConstructor(Rule):
    code = "TL310"
    name = "legacy-tensor-constructor"
    summary = "legacy tensor constructors `torch.Tensor(...)`, `torch.FloatTensor(...)`, `torch.cuda.*Tensor(...)`"
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("Tensor(",)

    def visit_Call(self, node: cst.Call) -> None:
        found = _constructor(self.context.qualified_name(node.func))
        if found is None:
            return
        type_name, cuda = found
        written = self.context.code(node.func)
        dtype = _DTYPES[type_name]
        message = (
            f"`{written}(...)` is a legacy constructor (data or size, depending on the argument): "
            f"use `torch.tensor(data, dtype=torch.{dtype})` or `torch.empty(size, "
            f"dtype=torch.{dtype})`"
        )
        self.report(node, message, fix=self._fix(node, dtype, cuda))

    def _fix(self, call: cst.Call, dtype: str, cuda: bool) -> FixPlan | None:
        args = list(call.args)
        if any(a.keyword is not None or a.star for a in args):
            return None
        if len(args) == 1 and isinstance(args[0].value, (cst.List, cst.Tuple, cst.ListComp)):
            factory = "tensor"
        elif args and all(_is_int_literal(a.value) for a in args):
            factory = "empty"
        else:
            return None  # a variable: data or a size? unknown
        spelled_factory = spell(f"torch.{factory}", self.facts.names)
        spelled_dtype = spell(f"torch.{dtype}", self.facts.names)
        if spelled_factory is None or spelled_dtype is None:
            return None
        inner = ", ".join(self.context.code(a.value) for a in args)
        extra = f"dtype={spelled_dtype.code}"
        if cuda:
            extra += ', device="cuda"'
        code = f"{spelled_factory.code}({inner}, {extra})"
        changes: tuple = (Replace(call, code),)
        for spelled in (spelled_factory, spelled_dtype):
            if spelled.needs_import:
                changes += (AddImport(spelled.needs_import),)
                break
        return FixPlan(
            f"Use `torch.{factory}(..., dtype=torch.{dtype})`", Applicability.UNSAFE, changes
        )
