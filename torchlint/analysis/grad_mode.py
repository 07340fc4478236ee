"""Grad mode: whether autograd records the code at a node.

Code runs with gradient recording off inside ``with torch.no_grad():``,
``with torch.inference_mode():`` and ``with torch.set_grad_enabled(False):``, and in a function
decorated with ``@torch.no_grad()`` / ``@torch.inference_mode()`` (with or without the call
parentheses). ``torch.enable_grad()`` (or ``set_grad_enabled(<anything but False>)``) nearer to the
node turns recording back on. A nested ``def`` or ``lambda`` starts over: its body runs whenever it
is called, not where it is defined.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import ImportMap
from torchlint.analysis.walk import PathUp

GRAD_DISABLING = frozenset(
    {
        "torch.no_grad",
        "torch.inference_mode",
        "torch.autograd.no_grad",
        "torch.autograd.inference_mode",
        "torch.autograd.grad_mode.no_grad",
        "torch.autograd.grad_mode.inference_mode",
    }
)
GRAD_ENABLING = frozenset(
    {"torch.enable_grad", "torch.autograd.enable_grad", "torch.autograd.grad_mode.enable_grad"}
)
_SET_GRAD_ENABLED = frozenset(
    {
        "torch.set_grad_enabled",
        "torch.autograd.set_grad_enabled",
        "torch.autograd.grad_mode.set_grad_enabled",
    }
)


def grad_mode_of(expr: cst.BaseExpression, names: ImportMap) -> bool | None:
    """False when ``expr`` (a ``with`` item or a decorator) turns recording off, True when it turns
    it on, None when it does neither (or cannot be told: ``set_grad_enabled(flag)`` is True)."""
    func = expr.func if isinstance(expr, cst.Call) else expr
    qualified = names.resolve(func)
    if qualified in GRAD_DISABLING:
        return False
    if qualified in GRAD_ENABLING:
        return True
    if qualified in _SET_GRAD_ENABLED and isinstance(expr, cst.Call) and expr.args:
        value = expr.args[0].value
        if isinstance(value, cst.Name) and value.value == "False":
            return False
        return True  # ``set_grad_enabled(is_train)``: may record; never treat it as disabled
    return None


def function_disables_grad(function: cst.FunctionDef, names: ImportMap) -> bool:
    """``@torch.no_grad()`` / ``@torch.inference_mode()`` on ``function``."""
    return any(grad_mode_of(d.decorator, names) is False for d in function.decorators)


def grad_disabled_at(path: PathUp, names: ImportMap) -> bool:
    """Whether the node whose ancestors are ``path`` (nearest first) runs with recording off."""
    for ancestor, child in path:
        if isinstance(ancestor, cst.With) and child is ancestor.body:
            for item in reversed(ancestor.items):
                mode = grad_mode_of(item.item, names)
                if mode is not None:
                    return not mode
        elif isinstance(ancestor, cst.FunctionDef):
            if child is ancestor.body:
                return function_disables_grad(ancestor, names)
            return False
        elif isinstance(ancestor, (cst.Lambda, cst.ClassDef)):
            return False
    return False
