"""TL501 hardcoded-cuda-in-forward.

A ``forward`` that moves tensors to ``"cuda"`` ties the module to one device layout: it breaks on
CPU and on Apple/XPU devices, and under DataParallel/DDP it silently copies every replica's tensors
to GPU 0. Devices belong to the caller; inside ``forward`` new tensors follow the inputs.

Not reported: files that import a CUDA-only framework (Megatron-LM, Apex, Transformer Engine,
FlashAttention): their modules cannot run anywhere but on an NVIDIA GPU, where ``torch.cuda.*``
allocates on the current device each rank has already selected.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from torchlint.analysis.dataflow import COMPREHENSIONS, comprehension_fors, target_binds
from torchlint.analysis.names import dotted_name
from torchlint.analysis.signatures import has_parameter
from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

# A finding: its message, and the fix given the parameter whose device to follow (None: no fix).
_Finding = tuple[str, Callable[[str], FixPlan] | None]
_CUDA_TENSOR = re.compile(r"^torch\.cuda\.\w*Tensor$")
# Frameworks that run only on NVIDIA GPUs: a file importing one is CUDA-only code.
_CUDA_ONLY_PACKAGES = frozenset({"megatron", "apex", "transformer_engine", "flash_attn"})


class _ImportsCudaOnly(Walker):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is not None and name.split(".", 1)[0] in _CUDA_ONLY_PACKAGES:
                self.found = True
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if node.relative or node.module is None:
            return False
        name = dotted_name(node.module)
        if name is not None and name.split(".", 1)[0] in _CUDA_ONLY_PACKAGES:
            self.found = True
        return False


def string_prefix(expr: cst.BaseExpression) -> str | None:
    """The known leading text of a string literal or f-string (None for anything else)."""
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        value = expr.evaluated_value
        if isinstance(value, str):
            return value
        if isinstance(expr, cst.ConcatenatedString):
            return string_prefix(expr.left)
        return None
    if isinstance(expr, cst.FormattedString):
        first = expr.parts[0] if expr.parts else None
        if isinstance(first, cst.FormattedStringText):
            return first.value
        return "" if first is None else None
    return None


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def _first_positional(call: cst.Call) -> cst.Arg | None:
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0]
    return None


class HardcodedCudaInForward(Rule):
    code = "TL501"
    name = "hardcoded-cuda-in-forward"
    summary = "A module's `forward` moves or creates tensors on a hardcoded CUDA device"
    category = Category.DEVICE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("cuda",)

    def setup(self) -> None:
        self._cuda_only: bool | None = None

    def _cuda_only_file(self) -> bool:
        if self._cuda_only is None:
            walker = _ImportsCudaOnly()
            walker.walk(self.context.module)
            self._cuda_only = walker.found
        return self._cuda_only

    # -- device values -------------------------------------------------------------------------
    def _cuda_device(self, expr: cst.BaseExpression) -> str | None:
        """``"cuda"`` / ``"cuda:1"`` / ``f"cuda:{i}"`` / ``torch.device("cuda...")``.

        Answers ``"fixable"`` for a plain ``"cuda"`` (no index), ``"indexed"`` for anything else
        naming CUDA, None when ``expr`` does not name a CUDA device.
        """
        prefix = string_prefix(expr)
        if prefix is not None:
            if not prefix.startswith("cuda"):
                return None
            exact = isinstance(expr, cst.SimpleString) and prefix == "cuda"
            return "fixable" if exact else "indexed"
        if isinstance(expr, cst.Call) and self.context.qualified_name(expr.func) == "torch.device":
            kind = _first_positional(expr) or _keyword(expr, "type")
            if kind is None:
                return None
            found = self._cuda_device(kind.value)
            if found is None:
                return None
            if found == "fixable" and len(expr.args) == 1:
                return "fixable"
            return "indexed"
        return None

    # -- where we are --------------------------------------------------------------------------
    def _forward(self) -> cst.FunctionDef | None:
        """The ``forward`` method of a module class around the current node."""
        ancestors = self.context.ancestors()
        for i, node in enumerate(ancestors):
            if isinstance(node, cst.ClassDef):
                return None
            if isinstance(node, cst.FunctionDef) and node.name.value == "forward":
                parents = ancestors[i + 1 : i + 3]
                if (
                    len(parents) == 2
                    and isinstance(parents[0], cst.IndentedBlock)
                    and isinstance(parents[1], cst.ClassDef)
                ):
                    return node if self.facts.is_module_class(parents[1]) else None
        return None

    def _device_parameter(self, forward: cst.FunctionDef) -> str | None:
        """The first tensor parameter of ``forward`` (after ``self``), when it can stand for the
        device here: a nested scope between ``forward`` and the current node may shadow it."""
        name = _first_tensor_parameter(forward)
        if name is None:
            return None
        for node in self.context.ancestors():
            if node is forward:
                break
            if isinstance(node, (cst.FunctionDef, cst.Lambda)) and has_parameter(node, name):
                return None
            if isinstance(node, COMPREHENSIONS) and any(
                target_binds(comp.target, name) for comp in comprehension_fors(node)
            ):
                return None
        return name

    # -- the check -----------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        finding = self._finding(node, "x")
        if finding is None:
            return
        forward = self._forward()
        if forward is None or self._cuda_only_file():
            return
        parameter = self._device_parameter(forward)
        shown = parameter or _first_tensor_parameter(forward)
        if shown is not None and shown != "x":
            finding = self._finding(node, shown)
            assert finding is not None
        message, fixer = finding
        fix = None
        if fixer is not None and parameter is not None:
            fix = fixer(parameter)
        self.report(node, message, fix=fix)

    def _finding(self, node: cst.Call, shown: str) -> _Finding | None:
        """``shown``: the parameter whose device the message suggests following."""
        func = node.func
        qualified = self.context.qualified_name(func)
        if qualified is not None and _CUDA_TENSOR.match(qualified):
            short = qualified.rsplit(".", 1)[-1]
            return (
                f"`torch.cuda.{short}` in `forward` always allocates on the GPU: use "
                f"`torch.empty(..., device={shown}.device)` or `{shown}.new_empty(...)`",
                None,
            )
        if isinstance(func, cst.Attribute) and qualified is None:
            method = func.attr.value
            if method == "cuda":
                return self._cuda_call(node, shown)
            if method == "to":
                first = _first_positional(node)
                if first is not None:
                    kind = self._cuda_device(first.value)
                    if kind is not None:
                        return self._device_value(first.value, kind, "`.to(...)`", shown)
        device = _keyword(node, "device")
        if device is not None:
            kind = self._cuda_device(device.value)
            if kind is not None:
                return self._device_value(device.value, kind, "`device=`", shown)
        return None

    def _cuda_call(self, node: cst.Call, shown: str) -> _Finding:
        message = (
            "`.cuda()` in `forward` hardcodes the device: keep tensors on the device of the "
            f"inputs (`.to({shown}.device)`) and move the model once, outside"
        )
        if any(arg.keyword is None or arg.keyword.value != "non_blocking" for arg in node.args):
            return message, None  # ``.cuda(0)``, ``.cuda(device=1)``: an explicit device

        def fixer(parameter: str) -> FixPlan:
            device_arg = cst.Arg(value=cst.parse_expression(f"{parameter}.device"))
            args = list(node.args)
            if args:
                device_arg = device_arg.with_changes(
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                )
            func = node.func
            assert isinstance(func, cst.Attribute)
            new = node.with_changes(
                func=func.with_changes(attr=cst.Name("to")), args=[device_arg, *args]
            )
            return FixPlan(
                f"Use `.to({parameter}.device)`",
                Applicability.UNSAFE,
                (Replace(node, new, self.context.block_indent()),),
            )

        return message, fixer

    def _device_value(
        self, value: cst.BaseExpression, kind: str, where: str, shown: str
    ) -> _Finding:
        message = (
            f"{where} names a CUDA device in `forward`: follow the inputs' device "
            f"(`{shown}.device`) so the module runs wherever its caller puts it"
        )
        if kind != "fixable":
            return message, None

        def fixer(parameter: str) -> FixPlan:
            return FixPlan(
                f"Use `{parameter}.device`",
                Applicability.UNSAFE,
                (Replace(value, f"{parameter}.device"),),
            )

        return message, fixer


# Annotations that say a parameter is not a tensor (it has no ``.device`` to borrow).
_SCALAR_ANNOTATIONS = frozenset({"int", "float", "bool", "str", "complex", "bytes"})


def _is_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.UnaryOperation):
        expr = expr.expression
    if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary)):
        return True
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return True
    return isinstance(expr, cst.Name) and expr.value in ("True", "False")


def _first_tensor_parameter(forward: cst.FunctionDef) -> str | None:
    """The first positional parameter after ``self`` that may be a tensor.

    Parameters annotated with a scalar type (``n: int``) or defaulting to a literal
    (``scale=1.0``) are skipped; the first other one is taken when it is unannotated or
    annotated as a tensor, else (``dict``, ``Optional[...]``, a ``None`` default) there is none.
    """
    params = [*forward.params.posonly_params, *forward.params.params][1:]
    for param in params:
        annotation = param.annotation
        dotted = dotted_name(annotation.annotation) if annotation is not None else None
        if dotted in _SCALAR_ANNOTATIONS:
            continue
        if param.default is not None and _is_literal(param.default):
            continue
        if annotation is not None and (dotted is None or not dotted.endswith("Tensor")):
            return None  # a dict, a list, an Optional[...]: no ``.device`` to borrow
        if isinstance(param.default, cst.Name) and param.default.value == "None":
            return None
        return param.name.value
    return None
