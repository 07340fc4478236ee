"""TL103 create-then-move.

``torch.zeros(n).to(device)`` allocates and fills a tensor in host memory, then allocates it again
on the device and copies it over. Passing ``device=`` creates it where it is used, once.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.data import has_star_kwargs, keyword_arg
from torchlint.analysis.devices import is_device_like, names_host
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule

# Factories whose output does not depend on where they run: the fix is safe.
_DETERMINISTIC = frozenset({"zeros", "ones", "full", "empty", "eye", "arange", "tensor"})
# Random factories: on the device they draw from the device generator, so values change.
_RANDOM = frozenset({"rand", "randn", "randint", "randperm", "normal"})
# Keywords that make ``device=`` on the factory mean something else or fail. A ``generator=``
# (a CPU ``torch.Generator``, for reproducible draws) must match the device it draws on: with
# ``device="cuda"`` the factory raises, so drawing on the host and copying is the point.
_BLOCKING_KEYWORDS = frozenset({"device", "out", "pin_memory", "generator"})


def _only_arg(call: cst.Call) -> cst.Arg | None:
    if len(call.args) == 1 and not call.args[0].star:
        return call.args[0]
    return None


class CreateThenMove(Rule):
    code = "TL103"
    name = "create-then-move"
    summary = "A tensor created on the host by a torch factory and then moved to a device"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = (".to(", ".cuda(")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("to", "cuda"):
            return
        factory = func.value
        if not isinstance(factory, cst.Call):
            return
        qualified = self.context.qualified_name(factory.func)
        if qualified is None or not qualified.startswith("torch.") or qualified.count(".") != 1:
            return
        kind = qualified[len("torch.") :]
        if kind not in _DETERMINISTIC and kind not in _RANDOM:
            return
        if has_star_kwargs(factory) or any(
            keyword_arg(factory, k) is not None for k in _BLOCKING_KEYWORDS
        ):
            return
        device = self._target_device(node, func.attr.value)
        if device is None:
            return
        device_code, fixable = device
        shown = f"`device={device_code}`"
        if device_code.startswith("the device"):
            shown = f"`device=` with {device_code}"
        message = (
            f"`torch.{kind}(...)` is built in host memory and then copied to the device: "
            f"pass {shown} to create it there"
        )
        fix = None
        if fixable:
            new = add_keyword_argument(factory, "device", device_code)
            random = kind in _RANDOM
            grad = keyword_arg(factory, "requires_grad") is not None
            applicability = Applicability.UNSAFE if random or grad else Applicability.SAFE
            fix = FixPlan(
                f"Pass `device={device_code}` to `torch.{kind}`",
                applicability,
                (Replace(node, new, self.context.block_indent()),),
            )
        self.report(node, message, fix=fix)

    def _target_device(self, call: cst.Call, method: str) -> tuple[str, bool] | None:
        """(the device's code, whether a plain ``device=`` rewrite is exact), or None."""
        names = self.facts.names
        if method == "cuda":
            chosen = [a for a in call.args if a.keyword is None or a.keyword.value == "device"]
            if chosen:
                # ``.cuda(rank)``: an index, a string or a device; ``device=`` takes each of them
                # except a bare index as the same thing, so name the argument and fix nothing.
                selector = self.context.code(chosen[0].value)
                return f"the device that `.cuda({selector})` selects", False
            return '"cuda"', not call.args
        only = _only_arg(call)
        if only is not None:
            keyword = only.keyword.value if only.keyword is not None else None
            if keyword in (None, "device") and is_device_like(only.value, names):
                if names_host(only.value, names):
                    return None  # a tensor created on the host stays there: nothing is copied
                return self.context.code(only.value), True
            return None
        if not call.args or call.args[0].keyword is not None or call.args[0].star:
            return None
        first = call.args[0].value
        if not is_device_like(first, names) or names_host(first, names):
            return None
        if any(a.keyword is None for a in call.args[1:]):
            return None  # ``.to(device, dtype)``: a cast as well as a move
        return self.context.code(first), False
