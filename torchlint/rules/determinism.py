"""TL401 benchmark-with-determinism.

``cudnn.benchmark = True`` times several convolution algorithms on the first batches and keeps the
fastest, and which one wins can differ from run to run: it undoes the determinism that
``cudnn.deterministic = True`` or ``torch.use_deterministic_algorithms(True)`` asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_BENCHMARK = "torch.backends.cudnn.benchmark"
_DETERMINISTIC = "torch.backends.cudnn.deterministic"
_USE_DETERMINISTIC = "torch.use_deterministic_algorithms"


@dataclass
class _Setting:
    node: cst.CSTNode
    stack: list[cst.CSTNode]  # root first, the node last
    scope: cst.CSTNode
    what: str


def _is_true(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


def _exclusive(a: list[cst.CSTNode], b: list[cst.CSTNode]) -> bool:
    """Whether the two nodes sit in different branches of one ``if`` (or conditional expression)."""
    i = 0
    while i < min(len(a), len(b)) and a[i] is b[i]:
        i += 1
    if i == 0 or i >= min(len(a), len(b)):
        return False
    common, left, right = a[i - 1], a[i], b[i]
    if isinstance(common, (cst.If, cst.IfExp)):
        branches = {id(common.body), id(common.orelse)}
        return {id(left), id(right)} == branches
    return False


class BenchmarkWithDeterminism(Rule):
    code = "TL401"
    name = "benchmark-with-determinism"
    summary = "`cudnn.benchmark = True` set together with deterministic algorithms"
    category = Category.REPRODUCIBILITY
    severity = Severity.WARNING
    precision = Precision.HIGH
    needles = ("benchmark",)

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._settings: list[_Setting] = []

    def _record(self, node: cst.CSTNode, what: str) -> None:
        scope = self.context.enclosing(cst.FunctionDef) or self.context.module
        self._settings.append(_Setting(node, list(self.context.stack), scope, what))

    def visit_Assign(self, node: cst.Assign) -> None:
        if not _is_true(node.value):
            return
        for target in node.targets:
            qualified = self.context.qualified_name(target.target)
            if qualified == _BENCHMARK:
                self._record(node, "benchmark")
            elif qualified == _DETERMINISTIC:
                self._record(node, "`torch.backends.cudnn.deterministic = True`")

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != _USE_DETERMINISTIC:
            return
        for index, arg in enumerate(node.args):
            if (arg.keyword is None and index == 0) or (
                arg.keyword is not None and arg.keyword.value == "mode"
            ):
                if _is_true(arg.value):
                    self._record(node, "`torch.use_deterministic_algorithms(True)`")
                return

    def leave_Module(self, node: cst.Module) -> None:
        benchmarks = [s for s in self._settings if s.what == "benchmark"]
        determinism = [s for s in self._settings if s.what != "benchmark"]
        for bench in benchmarks:
            partner = next(
                (
                    d
                    for d in determinism
                    if d.scope is bench.scope and not _exclusive(bench.stack, d.stack)
                ),
                None,
            )
            if partner is None:
                continue
            self.report(
                bench.node,
                "`torch.backends.cudnn.benchmark = True` lets cuDNN pick convolution algorithms by "
                f"timing them, which can differ between runs; it defeats {partner.what} set in the "
                "same code: set `benchmark = False` for reproducible runs",
            )
