"""Which tensor a BACKWARD differentiates.

``loss`` in ``loss.backward()``, ``scaler.scale(loss).backward()``, ``accelerator.backward(loss)``
(also ``fabric`` / DeepSpeed ``engine``), ``self.manual_backward(loss)`` and
``torch.autograd.backward(loss)``. :func:`backpropagated_names` goes one step further, to the local
names whose graph the backward traverses: ``loss`` in ``(loss / accumulation_steps).backward()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.training_loops import call_attr, is_scaler, receiver

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

_DELEGATES = ("accelerator", "fabric", "engine", "strategy", "trainer")
_REDUCTIONS = frozenset({"mean", "sum"})


def backpropagated(call: cst.Call, facts: TorchFacts) -> cst.BaseExpression | None:
    """The tensor a BACKWARD call differentiates, or None when it cannot be told."""
    attr = call_attr(call)
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if attr == "manual_backward" or facts.names.resolve(call.func) == "torch.autograd.backward":
        keyword = [a.value for a in call.args if a.keyword and a.keyword.value == "tensors"]
        found = positional or keyword
        return found[0] if found else None
    if attr != "backward":
        return None
    recv = receiver(call)
    if recv is None:
        return None
    if isinstance(recv, cst.Call) and call_attr(recv) == "scale":
        scaler = receiver(recv)
        if scaler is not None and is_scaler(scaler, facts) and recv.args:
            return recv.args[0].value
    if positional and isinstance(recv, (cst.Name, cst.Attribute)):
        name = recv.attr.value if isinstance(recv, cst.Attribute) else recv.value
        if name.lower().endswith(_DELEGATES):
            return positional[0]  # accelerator.backward(loss)
    return recv


def backpropagated_names(call: cst.Call, facts: TorchFacts) -> set[str]:
    """Local names the backward differentiates through directly: ``loss`` for
    ``loss.backward()``, ``(loss / k).backward()``, ``(0.5 * loss).backward()``,
    ``loss.mean().backward()``, ``(loss_a + loss_b).backward()``."""
    tensor = backpropagated(call, facts)
    return _names(tensor) if tensor is not None else set()


def _names(expr: cst.BaseExpression) -> set[str]:
    if isinstance(expr, cst.Name):
        return {expr.value}
    if isinstance(expr, cst.UnaryOperation):
        return _names(expr.expression)
    if isinstance(expr, cst.Call) and call_attr(expr) in _REDUCTIONS and not expr.args:
        recv = receiver(expr)
        return _names(recv) if recv is not None else set()
    if isinstance(expr, cst.BinaryOperation):
        op = expr.operator
        if isinstance(op, (cst.Add, cst.Subtract)):
            return _names(expr.left) | _names(expr.right)
        if isinstance(op, (cst.Divide, cst.FloorDivide)):
            return _names(expr.left)
        if isinstance(op, cst.Multiply):
            if isinstance(expr.left, (cst.Integer, cst.Float)):
                return _names(expr.right)
            return _names(expr.left)
    return set()


def retains_graph(call: cst.Call) -> bool:
    """``backward(retain_graph=True)`` / ``create_graph=True``: the graph is kept on purpose."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in ("retain_graph", "create_graph"):
            return not (isinstance(arg.value, cst.Name) and arg.value.value in ("False", "None"))
    return False
