"""TL104 host-sync-in-training-loop.

The sibling of TL101 (``.item()``): copying a tensor's values to the host (``.cpu()``,
``.tolist()``, ``print(tensor)``) or calling ``torch.cuda.synchronize()`` blocks Python until the
device has drained its queue. Once per training step, the GPU idles while the host catches up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.backprop import backpropagated, backpropagated_names
from torchlint.analysis.bindings import binding_key
from torchlint.analysis.devices import names_host
from torchlint.analysis.tensors import is_tensor_like
from torchlint.analysis.timing import reads_clock
from torchlint.analysis.training_loops import (
    Loop,
    call_attr,
    per_iteration_training_loop,
    receiver,
    steps_directly,
)
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, RemoveStatement
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.names import ImportMap

_SHORT = 40
_HOST_METHODS = frozenset({"cpu", "numpy", "tolist", "item"})


def _host_chain(expr: cst.BaseExpression, names: ImportMap) -> bool:
    """Whether the value already went through a host copy (``x.cpu()...``, ``x.item()``)."""
    while True:
        if isinstance(expr, cst.Call):
            method = call_attr(expr)
            if method in _HOST_METHODS:
                return True
            if method == "to" and expr.args and names_host(expr.args[0].value, names):
                return True
            recv = receiver(expr)
            if recv is None:
                return False
            expr = recv
        elif isinstance(expr, cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Attribute):
            expr = expr.value
        else:
            return False


class HostSyncInTrainingLoop(Rule):
    code = "TL104"
    name = "host-sync-in-training-loop"
    summary = (
        "`.cpu()`, `.tolist()`, `print(tensor)` or `torch.cuda.synchronize()` on every "
        "iteration of a training loop blocks the host until the device catches up"
    )
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.DISPLAY_ONLY
    needles = (".cpu(", ".to(", ".tolist(", ".numpy(", "print(", "synchronize(")
    report_in_tests = False  # a test's few steps are not worth a faster pipeline

    def setup(self) -> None:
        self._timed: dict[int, bool] = {}
        self._direct: dict[int, bool] = {}
        self._tensors: dict[int, frozenset[str]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        finding = self._finding(node)
        if finding is None:
            return
        where = per_iteration_training_loop(self.context.path_up(), self.facts)
        if where is None or where.guarded or not self._per_step(where.loop):
            return
        kind, value = finding
        if kind == "synchronize" and self._timed_loop(where.loop):
            return  # synchronising to time a step is the point of the code
        if kind == "print":
            if not any(self._is_tensor(v, where.loop) for v in value):
                return
        elif kind in ("tolist", "numpy") and not self._is_tensor(value[0], where.loop):
            return
        self._report(node, kind, value)

    # -- what the call is ------------------------------------------------------------------------
    def _finding(self, node: cst.Call) -> tuple[str, list[cst.BaseExpression]] | None:
        names = self.facts.names
        qualified = self.context.qualified_name(node.func)
        if qualified == "torch.cuda.synchronize":
            return "synchronize", []
        if isinstance(node.func, cst.Name) and node.func.value == "print" and qualified is None:
            values: list[cst.BaseExpression] = []
            for arg in node.args:
                if arg.keyword is not None or arg.star:
                    continue
                values.extend(_printed_values(arg.value))
            return ("print", values) if values else None
        method = call_attr(node)
        recv = receiver(node)
        if method is None or recv is None or qualified is not None:
            return None
        if method == "cpu":
            if any(a.keyword is None for a in node.args):
                return None
            return "cpu", [recv]
        if method == "to":
            if not node.args or node.args[0].keyword is not None:
                return None
            if not names_host(node.args[0].value, names):
                return None
            if any(a.keyword is not None and a.keyword.value == "non_blocking" for a in node.args):
                return None  # an asynchronous copy into pinned memory does not block
            return "cpu", [recv]
        if method == "tolist" and not node.args and not _host_chain(recv, names):
            return "tolist", [recv]
        if method == "numpy" and not _host_chain(recv, names):
            force = next((a for a in node.args if a.keyword and a.keyword.value == "force"), None)
            if (
                force is not None
                and isinstance(force.value, cst.Name)
                and force.value.value == "True"
            ):
                return "numpy", [recv]
        return None

    def _per_step(self, loop: Loop) -> bool:
        known = self._direct.get(id(loop))
        if known is None:
            known = self._direct[id(loop)] = steps_directly(loop, self.facts)
        return known

    def _is_tensor(self, expr: cst.BaseExpression, loop: Loop) -> bool:
        names = self.facts.names
        if _host_chain(expr, names):
            return False
        path = self.context.path_up()
        return is_tensor_like(expr, names, path=path, known=self._backpropagated(loop))

    def _backpropagated(self, loop: Loop) -> frozenset[str]:
        """Keys of the tensors the loop calls BACKWARD on (``loss`` in ``loss.backward()``)."""
        known = self._tensors.get(id(loop))
        if known is None:
            keys: set[str] = set()
            for call in self.facts.loop(loop).backwards:
                keys |= backpropagated_names(call, self.facts)
                tensor = backpropagated(call, self.facts)
                key = binding_key(tensor) if tensor is not None else None
                if key is not None:
                    keys.add(key)
            known = self._tensors[id(loop)] = frozenset(keys)
        return known

    def _timed_loop(self, loop: Loop) -> bool:
        """The loop reads a clock or CUDA events: its synchronize calls are for timing."""
        known = self._timed.get(id(loop))
        if known is None:
            known = self._timed[id(loop)] = reads_clock(loop.body, self.facts.names)
        return known

    # -- the report ------------------------------------------------------------------------------
    def _report(self, node: cst.Call, kind: str, value: list[cst.BaseExpression]) -> None:
        fix = None
        if kind == "synchronize":
            message = (
                "`torch.cuda.synchronize()` on every iteration of the training loop makes the host "
                "wait for all queued device work each step"
            )
            suggestion = "Remove it, or synchronise only where you measure time or under a guard"
            statement = self._statement_of(node)
            if statement is not None:
                fix = FixPlan(
                    "Remove the `torch.cuda.synchronize()` call",
                    Applicability.DISPLAY_ONLY,
                    (RemoveStatement(statement, self._only_statement(statement)),),
                )
        elif kind == "print":
            message = (
                "printing a tensor on every iteration of the training loop copies its values to "
                "the host and blocks until the device has finished all queued work"
            )
            suggestion = "Print under a logging guard such as `if step % log_every == 0:`"
        else:
            shown = self._shown(value[0])
            call = {"cpu": ".cpu()", "tolist": ".tolist()", "numpy": ".numpy(force=True)"}[kind]
            message = (
                f"`{shown}{call}` runs on every iteration of the training loop: copying to the host "
                "blocks until the device has finished all queued work"
            )
            suggestion = (
                "Keep the values on the device (detached) and copy them once after the loop, or "
                "only under a logging guard such as `if step % log_every == 0:`"
            )
        self.report(node, message, fix=fix, suggestion=suggestion)

    def _shown(self, expr: cst.BaseExpression) -> str:
        code = self.context.code(expr)
        return code if len(code) <= _SHORT and "\n" not in code else "..."

    def _statement_of(self, node: cst.Call) -> cst.SimpleStatementLine | None:
        stack = self.context.stack
        if len(stack) >= 3:
            expr, line = stack[-2], stack[-3]
            if (
                isinstance(expr, cst.Expr)
                and expr.value is node
                and isinstance(line, cst.SimpleStatementLine)
                and len(line.body) == 1
            ):
                return line
        return None

    def _only_statement(self, statement: cst.SimpleStatementLine) -> bool:
        stack = self.context.stack
        block = stack[-4] if len(stack) >= 4 else None
        return isinstance(block, cst.IndentedBlock) and len(block.body) == 1


def _printed_values(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """What ``print`` formats: the argument, or the expressions inside an f-string."""
    if isinstance(expr, cst.FormattedString):
        out = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringExpression):
                out.append(part.expression)
        return out
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float)):
        return []
    return [expr]
