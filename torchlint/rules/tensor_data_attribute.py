"""TL016 tensor-data-attribute.

``t.data`` is a tensor sharing ``t``'s storage that autograd does not track: in-place changes made
through it are invisible to the version counter. That only matters in one window: after a forward
pass has saved ``t`` for the backward and before that backward runs. There, a change made through
``.data`` silently feeds the backward the new values (through ``.detach()`` or a plain in-place op it
would raise an error instead). Everywhere else, ``.data`` is an old spelling that does no harm:
weight initialisation, module surgery and reparametrisation, optimizer updates after the backward,
read-only gradient norms, code under ``torch.no_grad()``. So the rule reports only a write through
``.data`` (an in-place method, an item or whole assignment, an in-place ``torch.nn.init`` call) that
runs after the loss a later BACKWARD differentiates was computed and before that BACKWARD. Grad mode
does not matter there: under ``torch.no_grad()`` a plain in-place change of a saved tensor still
raises at the backward, and one made through ``.data`` still goes unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.backprop import backpropagated_names
from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import reaching_value
from torchlint.analysis.tensors import (
    is_parameter_constructor,
    is_tensor_function,
    is_tensor_like,
    scope_tensor_names,
)
from torchlint.analysis.training_loops import is_backward
from torchlint.analysis.walk import SCOPES, PathUp, ScopeWalker, Walker
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

# ``m.weight.data``: attributes that hold parameters or buffers of a module.
PARAMETER_ATTRIBUTES = frozenset({"weight", "bias", "running_mean", "running_var"})


def _in_place_method(name: str) -> bool:
    return name.endswith("_") and not name.startswith("__")


def _write_kind(path: PathUp, resolve: Callable[[cst.BaseExpression], str | None]) -> str | None:
    """How the ``.data`` node at the head of ``path`` is written through, or None for a read.

    ``path`` is the node's ancestors (nearest first, with the child on the way down)."""
    if not path:
        return None
    parent, child = path[0]
    if isinstance(parent, cst.AssignTarget) and parent.target is child:
        return "assigned"
    if isinstance(parent, cst.AugAssign) and parent.target is child:
        return "assigned"
    # ``t.data[i] = v`` / ``t.data[i] += v`` / ``t.data[i].zero_()``: writes into a view of it.
    if isinstance(parent, cst.Subscript) and parent.value is child and len(path) >= 2:
        grand, sub = path[1]
        if isinstance(grand, (cst.AssignTarget, cst.AugAssign)) and grand.target is sub:
            return "written into"
        parent, child = grand, sub
        path = path[1:]
    if isinstance(parent, cst.Attribute) and parent.value is child and len(path) >= 2:
        grand, _ = path[1]
        if isinstance(grand, cst.Call) and grand.func is parent:
            return "changed in place" if _in_place_method(parent.attr.value) else None
        return None
    # ``nn.init.normal_(w.data)``: an in-place torch function on its first argument.
    if isinstance(parent, cst.Arg) and parent.value is child and len(path) >= 2:
        call, _ = path[1]
        if not isinstance(call, cst.Call) or not call.args or call.args[0] is not parent:
            return None
        qualified = resolve(call.func)
        if qualified is not None and qualified.startswith("torch."):
            if _in_place_method(qualified.rsplit(".", 1)[-1]):
                return "changed in place"
    return None


def _reads_grad(value: cst.BaseExpression) -> bool:
    """``p.grad.data``: a gradient is not saved for the backward that produces it."""
    while isinstance(value, (cst.Attribute, cst.Subscript, cst.Call)):
        if isinstance(value, cst.Attribute):
            if value.attr.value == "grad":
                return True
            value = value.value
        elif isinstance(value, cst.Subscript):
            value = value.value
        else:
            value = value.func
    return False


def _statements_after(body: object, child: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """The statements after ``child`` in a block's statement sequence (matched by identity)."""
    if not isinstance(body, (list, tuple)):
        return ()
    for index, statement in enumerate(body):
        if statement is child:
            return body[index + 1 :]
    return ()


class _FindBackward(ScopeWalker):
    def __init__(self, facts: TorchFacts) -> None:
        super().__init__()
        self.facts = facts
        self.found: cst.Call | None = None

    def visit_Call(self, node: cst.Call) -> bool | None:
        if self.found is not None:
            return False
        if is_backward(node, self.facts):
            self.found = node
            return False
        return None


class _Orders(Walker):
    """Source order of two nodes of a scope, and of every binding of some names in it."""

    def __init__(self, wanted: Sequence[cst.CSTNode], names: set[str]) -> None:
        super().__init__()
        self._wanted = {id(n) for n in wanted}
        self._names = names
        self.counter = 0
        self.orders: dict[int, int] = {}
        self.bindings: list[tuple[str, int]] = []

    def _visit(self, node: cst.CSTNode) -> object:
        self.counter += 1
        if id(node) in self._wanted:
            self.orders[id(node)] = self.counter
        if isinstance(node, SCOPES) and self.counter > 1:
            return False
        return super()._visit(node)

    def _bind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            if target.value in self._names:
                self.bindings.append((target.value, self.counter))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind(element.value)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value)

    # A binding counts from the end of its statement: ``loss = f(loss)`` binds after its read.
    def leave_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target)

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target)

    def leave_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target)

    def leave_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind(node.asname.name)


class TensorDataAttribute(Rule):
    code = "TL016"
    name = "tensor-data-attribute"
    summary = (
        "A write through `.data` between the forward pass and the backward, which autograd does "
        "not see"
    )
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    # Tests change weights through `.data` to set up known values; the window is rare there and
    # deliberate when it occurs.
    report_in_tests = False
    needles = (".data",)

    def setup(self) -> None:
        # No BACKWARD in the file, no window: most `.data` files (init, surgery) stop here.
        self._backward_in_file = "backward" in self.context.source

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "data" or not self._backward_in_file:
            return
        path = self.context.path_up()
        kind = _write_kind(path, self.facts.names.resolve)
        if kind is None or self._gradient(node.value, path):
            return
        if not self._tensor_like(node.value, path):
            return
        window = self._forward_backward_window(node, path)
        if window is None:
            return
        loss, backward = window
        shown = self.context.code(node.value)
        what = f"`{shown}.data`" if len(shown) <= 40 and "\n" not in shown else "`.data`"
        called = self.context.code(backward)
        called = f"`{called}`" if len(called) <= 50 and "\n" not in called else "the backward"
        self.report(
            node,
            f"{what} is {kind} after `{loss}` is computed and before {called}: autograd does not "
            "see changes made through `.data`, so where the forward pass saved this tensor the "
            "backward silently computes gradients from the new values; make the change before "
            "the forward pass, or after the backward under `torch.no_grad()`",
        )

    def _forward_backward_window(
        self, node: cst.Attribute, path: PathUp
    ) -> tuple[str, cst.Call] | None:
        """(loss name, BACKWARD) when a later BACKWARD in this scope differentiates a loss that
        is already computed when ``node`` runs, and not recomputed in between."""
        backward: cst.Call | None = None
        scope: cst.CSTNode | None = None
        for ancestor, child in path:
            if isinstance(ancestor, SCOPES):
                scope = ancestor
                break
            if backward is None:
                finder = _FindBackward(self.facts)
                for statement in _statements_after(getattr(ancestor, "body", None), child):
                    finder.walk(statement)
                    if finder.found is not None:
                        backward = finder.found
                        break
            scope = ancestor
        if backward is None or scope is None or isinstance(scope, (cst.Lambda, cst.ClassDef)):
            return None
        names = backpropagated_names(backward, self.facts)
        if not names:
            return None  # ``criterion(model(x), y).backward()``: the forward runs after
        orders = _Orders([node, backward], names)
        if isinstance(scope, cst.FunctionDef):
            orders.walk(scope.body)
        else:
            orders.walk(scope)
        at = orders.orders.get(id(node))
        until = orders.orders.get(id(backward))
        if at is None or until is None:
            return None
        if any(at < o < until for _, o in orders.bindings):
            return None  # the loss is recomputed after the write
        computed = sorted({name for name, o in orders.bindings if o < at})
        return (computed[0], backward) if computed else None

    def _gradient(self, value: cst.BaseExpression, path: PathUp) -> bool:
        """``p.grad.data``, or ``g.data`` after ``g = p.grad``."""
        if isinstance(value, cst.Name):
            bound = reaching_value(list(path), value.value)
            if bound is not None and _reads_grad(bound):
                return True
        return _reads_grad(value)

    def _tensor_like(self, value: cst.BaseExpression, path: PathUp) -> bool:
        if isinstance(value, cst.Attribute) and value.attr.value in PARAMETER_ATTRIBUTES:
            return self.facts.names.imports_from("torch")
        known = scope_tensor_names(list(path), self.facts.names)
        key = binding_key(value)
        if key is not None and key.startswith("self.") and self._tensor_attribute(key):
            known.add(key)
        return is_tensor_like(value, self.facts.names, path=list(path), known=known)

    def _tensor_attribute(self, key: str) -> bool:
        """``self.w`` bound only to ``nn.Parameter(...)`` or tensor functions in this file."""
        values = self.facts.bindings.values.get(key, ())
        if not values:
            return False
        for value in values:
            if not isinstance(value, cst.Call):
                return False
            qualified = self.context.qualified_name(value.func)
            if qualified is None:
                return False
            if not (is_parameter_constructor(qualified) or is_tensor_function(qualified)):
                return False
        return True
