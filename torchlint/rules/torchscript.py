"""TL304 torchscript.

TorchScript is deprecated: ``torch.jit.script`` / ``torch.jit.trace`` get no new features or
fixes; ``torch.compile`` (speed) and ``torch.export`` (deployment) replace them.
"""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_ENTRY_POINTS = {
    "torch.jit.script": "`torch.compile` to speed a model up, `torch.export.export` to deploy it",
    "torch.jit.trace": "`torch.export.export` to capture a graph, `torch.compile` for speed",
    "torch.jit.trace_module": "`torch.export.export` to capture a graph",
}
_CANONICAL = {
    "torch.jit._script.script": "torch.jit.script",
    "torch.jit._trace.trace": "torch.jit.trace",
    "torch.jit._trace.trace_module": "torch.jit.trace_module",
}


def _entry(qualified: str | None) -> str | None:
    if qualified is None:
        return None
    qualified = _CANONICAL.get(qualified, qualified)
    return qualified if qualified in _ENTRY_POINTS else None


class TorchScript(Rule):
    code = "TL304"
    name = "torchscript"
    summary = "`torch.jit.script` / `torch.jit.trace` compile to TorchScript, which is deprecated"
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    # Real code (issue 13): libraries script or trace on purpose (exporters, `to_torchscript()`,
    # `@torch.jit.script` kernels) and tests check scriptability; none of 68 findings was useful.
    preview = True
    report_in_tests = False
    needles = ("jit",)

    def visit_Call(self, node: cst.Call) -> None:
        entry = _entry(self.context.qualified_name(node.func))
        if entry is not None:
            self._report(node, entry)

    def visit_Decorator(self, node: cst.Decorator) -> None:
        if isinstance(node.decorator, cst.Call):
            return  # ``@torch.jit.script(...)``: visit_Call reports it
        entry = _entry(self.context.qualified_name(node.decorator))
        if entry is not None:
            self._report(node.decorator, entry)

    def _report(self, node: cst.CSTNode, entry: str) -> None:
        self.report(
            node,
            f"`{entry}` compiles to TorchScript, which is deprecated and no longer developed: "
            f"use {_ENTRY_POINTS[entry]}",
        )
