"""Loss calls: whether a call computes a given loss, and how the loss was spelled.

A loss is computed by its functional form (``F.binary_cross_entropy(p, y)``), by an object bound to
the loss class (``criterion = nn.BCELoss()`` as a local name, or ``self.criterion`` set anywhere in
the file, every binding agreeing), or by the class called inline (``nn.BCELoss()(p, y)``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.scopes import PathUp

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts


@dataclass
class LossCall:
    call: cst.Call
    # "function" (``F.nll_loss(...)``), "object" (``criterion(...)``) or "inline"
    # (``nn.NLLLoss()(...)``).
    form: str
    key: str | None = None  # the binding key of the loss object ("criterion", "self.loss_fn")


def loss_call(
    call: cst.Call,
    facts: TorchFacts,
    functions: Collection[str],
    classes: Collection[str],
    path: PathUp | None = None,
) -> LossCall | None:
    """``call`` as a call of one of the loss ``functions`` or loss ``classes``, or None.

    ``path`` (the ancestors of ``call``) scopes what a loss object holds to where it is called."""
    func = call.func
    if isinstance(func, cst.Call):
        if facts.names.resolve(func.func) in classes:
            return LossCall(call, "inline")
        return None
    qualified = facts.names.resolve(func)
    if qualified is not None:
        return LossCall(call, "function") if qualified in functions else None
    key = binding_key(func)
    if key is not None and facts.bindings.constructor_of(key, path, among=classes) in classes:
        return LossCall(call, "object", key)
    return None
