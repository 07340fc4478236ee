"""Activation outputs: whether an expression is the result of a softmax or a sigmoid.

Losses that expect logits or log-probabilities go wrong when they are handed probabilities
(TL002, TL008, TL009). An expression is a SOFTMAX (SIGMOID) OUTPUT when it is

- a call of the function: ``torch.softmax(x, 1)``, ``F.softmax(x, dim=1)``,
  ``torch.special.softmax``; ``torch.sigmoid(x)``, ``F.sigmoid(x)``, ``torch.special.expit(x)``;
- the tensor method: ``x.softmax(1)``, ``x.sigmoid()`` (not ``self.softmax(...)`` in a file that
  defines its own ``softmax`` method);
- a call of the module: ``nn.Softmax(dim=1)(x)``, or of a name / ``self.attr`` every binding of which
  is ``nn.Softmax(...)`` (``nn.Sigmoid()``);
- with :func:`reaching_activation`: a local name every assignment of which that may reach the use
  (:mod:`torchlint.analysis.reaching`: through ``if``/``else``, loops, ``try``) is one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import Reaching
from torchlint.analysis.reaching import reaching_assignments
from torchlint.analysis.walk import PathUp

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts


@dataclass(frozen=True)
class Activation:
    name: str  # "softmax"
    functions: frozenset[str]
    method: str
    modules: frozenset[str]


SOFTMAX = Activation(
    "softmax",
    frozenset(
        {
            "torch.softmax",
            "torch.nn.functional.softmax",
            "torch.special.softmax",
            "torch.Tensor.softmax",
        }
    ),
    "softmax",
    frozenset({"torch.nn.Softmax"}),
)
SIGMOID = Activation(
    "sigmoid",
    frozenset(
        {
            "torch.sigmoid",
            "torch.nn.functional.sigmoid",
            "torch.special.expit",
            "torch.Tensor.sigmoid",
        }
    ),
    "sigmoid",
    frozenset({"torch.nn.Sigmoid"}),
)


@dataclass
class ActivationCall:
    """An activation applied to a tensor."""

    call: cst.Call
    # The tensor the activation is applied to; None when it cannot be told (``*args``).
    argument: cst.BaseExpression | None
    # "function" (``torch.softmax(x)``), "method" (``x.softmax()``), "module"
    # (``nn.Softmax()(x)``), "bound-module" (``self.softmax(x)`` bound to ``nn.Softmax()``) or
    # "function-summary" (``self(x)`` whose ``forward`` returns the activation's output).
    form: str


def first_input(call: cst.Call) -> cst.Arg | None:
    """The ``input`` argument of a torch function or loss: first positional or ``input=``."""
    for arg in call.args:
        if arg.star:
            return None  # ``*args`` hides which argument is the input
        if arg.keyword is None:
            return arg
        break
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "input":
            return arg
    return None


def _argument(call: cst.Call) -> cst.BaseExpression | None:
    arg = first_input(call)
    return arg.value if arg is not None else None


def activation_call(
    expr: cst.BaseExpression, kind: Activation, facts: TorchFacts, path: PathUp | None = None
) -> ActivationCall | None:
    """``expr`` itself as an activation call of ``kind``, or None. ``path`` (the ancestors of
    ``expr``) scopes what a called name or ``self.attr`` holds to where it is read."""
    if not isinstance(expr, cst.Call):
        return None
    func = expr.func
    if isinstance(func, cst.Call):  # nn.Softmax(dim=1)(x)
        if facts.names.resolve(func.func) in kind.modules:
            return ActivationCall(expr, _argument(expr), "module")
        return None
    if path is not None and facts.calls.returns(expr, path) == kind.name:
        # ``self(x)``, ``predict(x)``: a function of this file or the project returning it.
        return ActivationCall(expr, None, "function-summary")
    qualified = facts.names.resolve(func)
    if qualified is not None:
        if qualified in kind.functions:
            return ActivationCall(expr, _argument(expr), "function")
        return None  # another imported callable (scipy, jax, numpy...)
    key = binding_key(func)
    if key is not None and facts.bindings.bound(key, path):
        if facts.bindings.constructor_of(key, path) in kind.modules:
            return ActivationCall(expr, _argument(expr), "bound-module")
        return None
    if isinstance(func, cst.Attribute) and func.attr.value == kind.method:
        recv = func.value
        if (
            isinstance(recv, cst.Name)
            and recv.value == "self"
            and kind.method in facts.bindings.functions
        ):
            return None  # the class's own method of that name
        if any(a.star for a in expr.args):
            return ActivationCall(expr, None, "method")
        return ActivationCall(expr, recv, "method")
    return None


def reaching_activation(
    expr: cst.BaseExpression, kind: Activation, facts: TorchFacts, path: PathUp
) -> tuple[ActivationCall, Reaching | None] | None:
    """``expr`` as an activation output: inline (``(call, None)``) or through a local name every
    reaching assignment of which is the activation (``(call, reaching)``: the first of them; when
    several reach the use, ``reaching.rebinds()`` answers True, so no fix relies on the path).
    ``path`` is the ancestors of the use."""
    found = activation_call(expr, kind, facts, path)
    if found is not None:
        return found, None
    if not isinstance(expr, cst.Name):
        return None
    reachings = reaching_assignments(path, expr.value)
    if not reachings:
        return None
    first: tuple[ActivationCall, Reaching] | None = None
    for reaching in reachings:
        found = activation_call(reaching.value, kind, facts, reaching.path)
        if found is None:
            return None  # one path gives something else (the logits): not reported
        if first is None:
            first = (found, reaching)
    return first
