"""TL010 backward-under-no-grad.

Under ``torch.no_grad()`` / ``torch.inference_mode()`` (or in a function decorated with them)
autograd records nothing, so a loss computed there has no graph and its ``.backward()`` raises
"element 0 of tensors does not require grad". Code like this usually comes from wrapping a whole
training step in a decorator meant for evaluation, or from moving a training loop under a
``no_grad`` block along with the validation code beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.backprop import backpropagated
from torchlint.analysis.dataflow import reaching_assignment
from torchlint.analysis.grad_mode import function_disables_grad, grad_mode_of
from torchlint.analysis.modules import is_module_like
from torchlint.analysis.tensors import SHARED_METHODS, TENSOR_ONLY_METHODS, is_tensor_function
from torchlint.analysis.training_loops import call_attr, is_backward
from torchlint.analysis.walk import PathUp
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts


class BackwardUnderNoGrad(Rule):
    code = "TL010"
    name = "backward-under-no-grad"
    summary = (
        "A loss computed and backpropagated under `no_grad()`/`inference_mode()` has no graph, "
        "so its backward raises"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    needles = ("no_grad", "inference_mode", "set_grad_enabled")

    def visit_Call(self, node: cst.Call) -> None:
        if not is_backward(node, self.facts):
            return
        path = self.context.path_up()
        region = self._disabled_region(path)
        if region is None:
            return
        tensor = backpropagated(node, self.facts)
        if tensor is None or not self._computed_in(tensor, region, path):
            return
        where = (
            f"`@{self.context.code(_disabling_decorator(region, self.facts))}`"
            if isinstance(region, cst.FunctionDef)
            else f"`with {self.context.code(_disabling_item(region, self.facts))}:`"
        )
        self.report(
            node,
            f"The backward pass runs under {where} on a tensor computed there: autograd recorded "
            "no graph, so it raises instead of computing gradients; compute the loss with "
            "gradients enabled",
        )

    def _disabled_region(self, path: PathUp) -> cst.With | cst.FunctionDef | None:
        """The ``with`` block or decorated function that turns recording off at the node."""
        names = self.facts.names
        for ancestor, child in path:
            if isinstance(ancestor, cst.With) and child is ancestor.body:
                for item in reversed(ancestor.items):
                    mode = grad_mode_of(item.item, names)
                    if mode is not None:
                        return None if mode else ancestor
            elif isinstance(ancestor, cst.FunctionDef):
                if child is ancestor.body and function_disables_grad(ancestor, names):
                    return ancestor
                return None
            elif isinstance(ancestor, (cst.Lambda, cst.ClassDef)):
                return None
        return None

    def _computed_in(
        self, tensor: cst.BaseExpression, region: cst.CSTNode, path: PathUp, depth: int = 0
    ) -> bool:
        """Whether the tensor is produced by an operation that runs inside ``region``."""
        if depth > 4:
            return False
        if isinstance(tensor, (cst.Attribute, cst.Subscript)):
            root = tensor.value
            return self._computed_in(root, region, path, depth + 1)
        if not isinstance(tensor, cst.Name):
            return self._computes(tensor, path)
        found = reaching_assignment(path, tensor.value)
        if found is None:
            return False  # a parameter, or bound before the region / in uncertain flow
        if not isinstance(region, cst.FunctionDef) and not any(
            ancestor is region for ancestor, _ in found.path
        ):
            return False  # assigned before the ``with``: computed with recording on
        value_path = [(found.statement, found.value), *found.path]
        if isinstance(found.value, (cst.Name, cst.Attribute, cst.Subscript)):
            return self._computed_in(found.value, region, value_path, depth + 1)
        return self._computes(found.value, value_path)

    def _computes(self, expr: cst.BaseExpression, path: PathUp) -> bool:
        """An operation that creates a new tensor: arithmetic, a torch function, a tensor method,
        or a call of a model or loss module."""
        if isinstance(expr, (cst.BinaryOperation, cst.UnaryOperation)):
            return True
        if not isinstance(expr, cst.Call):
            return False
        qualified = self.context.qualified_name(expr.func)
        if qualified is not None:
            return is_tensor_function(qualified)
        method = call_attr(expr)
        if method in TENSOR_ONLY_METHODS or method in SHARED_METHODS:
            return True
        return is_module_like(expr.func, self.facts, path=path)


def _disabling_item(region: cst.With, facts: TorchFacts) -> cst.BaseExpression:
    for item in reversed(region.items):
        if grad_mode_of(item.item, facts.names) is False:
            return item.item
    return region.items[0].item


def _disabling_decorator(region: cst.FunctionDef, facts: TorchFacts) -> cst.BaseExpression:
    for decorator in region.decorators:
        if grad_mode_of(decorator.decorator, facts.names) is False:
            return decorator.decorator
    return region.decorators[0].decorator
