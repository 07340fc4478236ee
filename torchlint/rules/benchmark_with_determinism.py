"""TL401 benchmark-with-determinism.

``cudnn.benchmark = True`` times several convolution algorithms on the first batches and keeps the
fastest, and which one wins can differ from run to run: it undoes the determinism that
``cudnn.deterministic = True`` or ``torch.use_deterministic_algorithms(True)`` asked for.

A determinism setting switched off again before the benchmark line (``deterministic = False``,
``use_deterministic_algorithms(False)``) no longer conflicts with it.
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


def _is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


_CUDNN_DETERMINISTIC = "`torch.backends.cudnn.deterministic = True`"
_USE_DETERMINISTIC_TRUE = "`torch.use_deterministic_algorithms(True)`"
_OFF = {_CUDNN_DETERMINISTIC: "cudnn-off", _USE_DETERMINISTIC_TRUE: "algorithms-off"}


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

    def setup(self) -> None:
        self._settings: list[_Setting] = []

    def _record(self, node: cst.CSTNode, what: str) -> None:
        scope = self.context.enclosing(cst.FunctionDef) or self.context.module
        self._settings.append(_Setting(node, list(self.context.stack), scope, what))

    def visit_Assign(self, node: cst.Assign) -> None:
        on, off = _is_true(node.value), _is_false(node.value)
        if not (on or off):
            return
        for target in node.targets:
            qualified = self.context.qualified_name(target.target)
            if qualified == _BENCHMARK and on:
                self._record(node, "benchmark")
            elif qualified == _DETERMINISTIC:
                self._record(node, _CUDNN_DETERMINISTIC if on else _OFF[_CUDNN_DETERMINISTIC])

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != _USE_DETERMINISTIC:
            return
        for index, arg in enumerate(node.args):
            if (arg.keyword is None and index == 0) or (
                arg.keyword is not None and arg.keyword.value == "mode"
            ):
                if _is_true(arg.value):
                    self._record(node, _USE_DETERMINISTIC_TRUE)
                elif _is_false(arg.value):
                    self._record(node, _OFF[_USE_DETERMINISTIC_TRUE])
                return

    def leave_Module(self, node: cst.Module) -> None:
        order = {id(s): i for i, s in enumerate(self._settings)}  # source order
        benchmarks = [s for s in self._settings if s.what == "benchmark"]
        determinism = [s for s in self._settings if s.what in _OFF]
        offs = [s for s in self._settings if s.what in _OFF.values()]

        def switched_off(on: _Setting, bench: _Setting) -> bool:
            """``on`` comes first and is turned off again before ``bench``, on the way there."""
            lo, hi = order[id(on)], order[id(bench)]
            return lo < hi and any(
                o.what == _OFF[on.what]
                and o.scope is bench.scope
                and lo < order[id(o)] < hi
                and not _exclusive(bench.stack, o.stack)
                for o in offs
            )

        for bench in benchmarks:
            partner = next(
                (
                    d
                    for d in determinism
                    if d.scope is bench.scope
                    and not _exclusive(bench.stack, d.stack)
                    and not switched_off(d, bench)
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
