"""TL014 direct-forward-call.

``module(x)`` runs ``nn.Module.__call__``: forward pre-hooks, ``forward``, forward hooks, and the
backward hooks' bookkeeping. ``module.forward(x)`` runs ``forward`` alone, so every hook (pruning
masks, weight norm, quantization observers, FSDP's parameter gathering, profilers) is skipped.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.names import dotted_name
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

# Packages whose objects may be modules: a receiver built by anything else is not one.
_TORCH_ECOSYSTEM = (
    "torch",
    "torchvision",
    "torchaudio",
    "torchtext",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "timm",
    "diffusers",
    "peft",
    "torch_geometric",
    "segmentation_models_pytorch",
    "open_clip",
    "accelerate",
)
_TORCH_IMPORTS = ("torch", "lightning", "pytorch_lightning", "transformers", "timm")
# ``rref.rpc_sync().forward(x)``: an RPC proxy exposes the remote module's methods, not ``__call__``.
_RPC_PROXIES = frozenset({"rpc_sync", "rpc_async", "remote"})
# Built by these, an object is not a module, or ``.forward`` is its documented entry point:
# TorchScript custom classes (``torch.classes.ns.Op()``) and ``RemoteModule`` (no hooks at all).
_NOT_MODULE_CONSTRUCTORS = ("torch.classes.", "torch.distributed.nn.")


def _is_super_call(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name)
        and expr.func.value == "super"
    )


def _first_positional(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        break
    return None


class DirectForwardCall(Rule):
    code = "TL014"
    name = "direct-forward-call"
    summary = "`m.forward(...)` called directly, which skips the module's hooks"
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = (".forward(",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "forward":
            return
        recv = func.value
        if (isinstance(recv, cst.Name) and recv.value in ("self", "cls")) or _is_super_call(recv):
            return  # forward chaining inside the class itself
        first = _first_positional(node)
        if isinstance(first, cst.Name) and first.value == "self":
            return  # ``Base.forward(self, x)``: an unbound call that chains to a parent class
        if not self._torch_file() or self._not_a_module(recv):
            return
        if self._rpc_proxy(recv) or self._in_call_method():
            return
        shown = self.context.code(recv)
        short = len(shown) <= 40 and "\n" not in shown
        what = f"`{shown}.forward(...)`" if short else "`.forward(...)`"
        self.report(
            node,
            f"{what} bypasses `nn.Module.__call__`, so the module's forward and backward hooks "
            "never run: call the module itself",
            fix=FixPlan(
                "Call the module instead of `.forward`",
                Applicability.UNSAFE,
                (Replace(func, recv, self.context.block_indent()),),
            ),
        )

    @staticmethod
    def _rpc_proxy(recv: cst.BaseExpression) -> bool:
        return (
            isinstance(recv, cst.Call)
            and isinstance(recv.func, cst.Attribute)
            and recv.func.attr.value in _RPC_PROXIES
        )

    def _in_call_method(self) -> bool:
        """Inside a class's own ``__call__``: a wrapper that forwards to what it wraps."""
        for node in self.context.ancestors():
            if isinstance(node, cst.FunctionDef):
                if node.name.value == "__call__":
                    return True
            elif isinstance(node, cst.ClassDef):
                return False
        return False

    def _torch_file(self) -> bool:
        names = self.facts.names
        return any(names.imports_from(prefix) for prefix in _TORCH_IMPORTS)

    def _not_a_module(self, recv: cst.BaseExpression) -> bool:
        """The receiver is a class, or something whose binding shows it is not a module."""
        if isinstance(recv, cst.Call) and self._not_a_module_constructor(recv.func):
            return True  # ``RemoteModule(...).forward()``
        key = binding_key(recv)
        if key is None:
            return False
        last = key.removesuffix("[]").rsplit(".", 1)[-1]
        if last[:1].isupper() and not key.endswith("[]"):
            local = self.facts.bindings.classes.get(last)
            if local is not None or isinstance(recv, cst.Name):
                return True  # a class: ``Function.forward(ctx, ...)`` and friends
            if self.context.qualified_name(recv) is not None:
                return True
        for value in self.facts.bindings.values.get(key, ()):
            if value is None:
                continue
            if isinstance(
                value,
                (
                    cst.List,
                    cst.Tuple,
                    cst.Dict,
                    cst.Set,
                    cst.SimpleString,
                    cst.FormattedString,
                    cst.ConcatenatedString,
                    cst.Integer,
                    cst.Float,
                    cst.Lambda,
                ),
            ):
                return True
            if isinstance(value, cst.Call) and self._not_a_module_constructor(value.func):
                return True
        return False

    def _not_a_module_constructor(self, func: cst.BaseExpression) -> bool:
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            if qualified.startswith(_NOT_MODULE_CONSTRUCTORS):
                return True
            return not qualified.startswith(tuple(p + "." for p in _TORCH_ECOSYSTEM))
        name = dotted_name(func)
        if name is None:
            return False
        # ``Navigator(...)`` or a factory of it, ``Navigator.create(...)``: a class of this file
        # that is not a module class builds no module.
        head = name.split(".", 1)[0]
        local = self.facts.bindings.classes.get(head)
        return local is not None and not self.facts.is_module_class(local)
