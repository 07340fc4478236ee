"""TL006 discarded-out-of-place-result.

Tensor methods such as ``.to()``, ``.cuda()``, ``.float()``, ``.detach()`` and ``.view()`` return a
new tensor and leave their receiver unchanged. A statement ``x.to(device)`` therefore computes a
copy and throws it away; ``x`` stays on the CPU, in float64, attached to the graph... The in-place
counterparts end in an underscore (``x.detach_()``, ``x.add_(1)``). Modules are different:
``model.to(device)`` converts the module in place, and is never reported.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import binds, reaching_assignment
from torchlint.analysis.modules import is_module_like
from torchlint.analysis.names import dotted_name
from torchlint.analysis.tensors import (
    is_parameter_constructor,
    is_tensor_like,
    is_tensor_proven,
    scope_tensor_names,
)
from torchlint.analysis.training_loops import call_attr, receiver
from torchlint.analysis.walk import SCOPES, PathUp
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

# Out-of-place tensor methods a reader may take for in-place ones: conversions, views, copies, and
# arithmetic whose in-place form ends in ``_``.
OUT_OF_PLACE = frozenset(
    {
        "to",
        "cuda",
        "cpu",
        "float",
        "double",
        "half",
        "bfloat16",
        "long",
        "int",
        "short",
        "bool",
        "byte",
        "char",
        "type",
        "type_as",
        "detach",
        "clone",
        "contiguous",
        "pin_memory",
        "view",
        "view_as",
        "reshape",
        "reshape_as",
        "squeeze",
        "unsqueeze",
        "transpose",
        "permute",
        "flatten",
        "t",
        "expand",
        "expand_as",
        "add",
        "sub",
        "mul",
        "div",
        "clamp",
        "clip",
        "abs",
        "neg",
        "sqrt",
        "exp",
        "log",
        "pow",
        "masked_fill",
        "index_fill",
        "index_add",
        "scatter",
        "round",
        "floor",
        "ceil",
        "relu",
        "sigmoid",
        "tanh",
    }
)
# Methods modules share with tensors (they return the module itself): no evidence of a tensor.
_SHARED_WITH_MODULES = frozenset(
    {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "type", "requires_grad_", "xpu"}
)
# Tensor methods that other objects commonly have too: a config's or a graph batch's ``.clone()``,
# a NumPy array's ``.view(dtype)``, a batch class's ``.pin_memory()``. Called on something of
# unknown kind, they say nothing about it.
_COMMON_ELSEWHERE = frozenset(
    {"clone", "view", "contiguous", "pin_memory", "expand", "chunk", "type", "type_as"}
)
_MAX_DEPTH = 6
# Code that runs a conversion for its side effect on timing or device state.
_BENCHMARK = re.compile(r"bench|warm_?up|timeit|profil|_time$|^time_|latency|throughput", re.I)
_LOADER = re.compile(r"loader|^dl$|_dl$|^batches$", re.I)
# Context managers that expect the statements under them to raise or warn.
_PYTEST_EXPECTS = frozenset({"pytest.raises", "pytest.warns", "pytest.deprecated_call"})
_UNITTEST_EXPECTS = frozenset(
    {"assertRaises", "assertRaisesRegex", "assertWarns", "assertWarnsRegex"}
)


class DiscardedOutOfPlaceResult(Rule):
    code = "TL006"
    name = "discarded-out-of-place-result"
    summary = (
        "The result of an out-of-place tensor method (`x.to()`, `x.float()`, `x.detach()`...) "
        "is discarded, so `x` is left unchanged"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.MEDIUM
    fix_applicability = Applicability.SAFE
    needles = tuple(f".{m}(" for m in sorted(OUT_OF_PLACE))

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not isinstance(call, cst.Call):
            return
        method = call_attr(call)
        if method not in OUT_OF_PLACE:
            return
        if method == "type" and not call.args:
            return  # ``x.type()`` returns the type's name
        location = _location(call)
        if location is None:
            return
        path = self.context.path_up()
        if self._benchmark(path) or self._expects_error(path):
            return
        if is_module_like(location, self.facts, path=path):
            return
        if not self._tensor_like(location, path):
            return
        target = self.context.code(location)
        spelled = self.context.code(call)
        # Safe only where the receiver is a tensor beyond doubt; a batch element or a value
        # made by a method of that name on something unknown may be another class, whose
        # method returns something else (or None).
        proven = self._tensor_proven(location, path)
        self.report(
            call,
            f"`{spelled}` returns a new tensor and leaves `{target}` unchanged; the result is "
            f"discarded: assign it (`{target} = {spelled}`)",
            fix=FixPlan(
                f"Assign the result to `{target}`",
                Applicability.SAFE if proven else Applicability.UNSAFE,
                (Replace(call, f"{target} = {spelled}"),),
            ),
        )

    def _tensor_proven(self, location: cst.BaseExpression, path: PathUp) -> bool:
        names = self.facts.names
        known = scope_tensor_names(path, names)
        if is_tensor_proven(location, names, path=path, known=known):
            return True
        key = binding_key(location)
        if isinstance(location, cst.Attribute) and key is not None and key.startswith("self."):
            values = self.facts.bindings.values.get(key, ())
            return bool(values) and all(
                v is not None and is_tensor_proven(v, names) for v in values
            )
        return False

    # -- what the receiver is ---------------------------------------------------------------------
    def _tensor_like(self, location: cst.BaseExpression, path: PathUp) -> bool:
        known = scope_tensor_names(path, self.facts.names)
        if self._evidence(location, path, known):
            return True
        if isinstance(location, cst.Attribute):
            if location.attr.value == "data":
                return self._tensor_like(location.value, path)  # ``p.data`` of a tensor
            key = binding_key(location)
            if key is not None and key.startswith("self."):
                values = self.facts.bindings.values.get(key, ())
                return bool(values) and all(
                    v is not None and self._evidence(v, None, frozenset()) for v in values
                )
            return False
        if isinstance(location, cst.Name):
            return self._batch_element(location.value, path)
        return False

    def _evidence(
        self,
        expr: cst.BaseExpression,
        path: PathUp | None,
        known: set[str] | frozenset[str],
        depth: int = 0,
    ) -> bool:
        """Tensor-likeness that does not count ``m.cuda()`` / ``m.to()`` as a tensor, since
        modules have those methods too: the receiver has to be a tensor itself."""
        if depth > _MAX_DEPTH:
            return False
        names = self.facts.names
        if isinstance(expr, cst.Name):
            if expr.value in known:
                return True
            if path is None:
                return False
            found = reaching_assignment(path, expr.value)
            if found is None:
                return False
            value_path = [(found.statement, found.value), *found.path]
            if is_module_like(found.value, self.facts, path=value_path):
                return False
            return self._evidence(found.value, value_path, known, depth + 1)
        if isinstance(expr, cst.Call):
            qualified = names.resolve(expr.func)
            if is_parameter_constructor(qualified):
                return True
            method = call_attr(expr)
            if qualified is None and (
                method in _SHARED_WITH_MODULES or method in _COMMON_ELSEWHERE
            ):
                recv = receiver(expr)
                return recv is not None and self._evidence(recv, path, known, depth + 1)
        return is_tensor_like(expr, names, path=path, known=known)

    def _batch_element(self, name: str, path: PathUp) -> bool:
        """An element of a tuple a data loader yields: ``x`` in ``for x, y in loader:``."""
        if reaching_assignment(path, name) is not None:
            return False  # re-bound in the body: the reaching value decided already
        for ancestor, child in path:
            if isinstance(ancestor, SCOPES):
                return False
            if isinstance(ancestor, cst.For) and child is ancestor.body:
                if not _tuple_element(_batch_target(ancestor.target, ancestor.iter), name):
                    if binds(ancestor.target, name):
                        return False  # the whole batch, an enumerate index, ...
                    continue
                if binds(ancestor.body, name):
                    return False
                return _loader_like(ancestor.iter)
        return False

    def _expects_error(self, path: PathUp) -> bool:
        """Under ``with pytest.raises(...)`` / ``with self.assertRaises(...)`` in this function:
        the statement runs for the error (or warning) it raises, not for its result."""
        for ancestor, child in path:
            if isinstance(ancestor, SCOPES):
                return False
            if not isinstance(ancestor, cst.With) or child is not ancestor.body:
                continue
            for item in ancestor.items:
                call = item.item
                if not isinstance(call, cst.Call):
                    continue
                qualified = self.facts.names.resolve(call.func) or dotted_name(call.func)
                if qualified in _PYTEST_EXPECTS or call_attr(call) in _UNITTEST_EXPECTS:
                    return True
        return False

    def _benchmark(self, path: PathUp) -> bool:
        for ancestor, _child in path:
            if isinstance(ancestor, cst.FunctionDef) and _BENCHMARK.search(ancestor.name.value):
                return True
        return False


def _location(call: cst.Call) -> cst.BaseExpression | None:
    """The variable a chain of out-of-place calls starts from: ``x`` in ``x.float().cuda()``."""
    expr = receiver(call)
    while isinstance(expr, cst.Call) and call_attr(expr) in OUT_OF_PLACE:
        expr = receiver(expr)
    if expr is None or binding_key(expr) is None:
        return None  # a fresh value (``torch.zeros(1).cuda()`` warms CUDA up)
    return expr


def _batch_target(target: cst.BaseExpression, iterable: cst.BaseExpression) -> cst.BaseExpression:
    """The part of a ``for`` target that receives the batch: ``batch`` in
    ``for i, batch in enumerate(tqdm(loader)):``, the whole target otherwise."""
    while isinstance(iterable, cst.Call) and iterable.args:
        func = iterable.func
        name = func.value if isinstance(func, cst.Name) else None
        if name in ("tqdm", "iter"):
            iterable = iterable.args[0].value
        elif (
            name == "enumerate"
            and isinstance(target, (cst.Tuple, cst.List))
            and len(target.elements) == 2
            and not isinstance(target.elements[1], cst.StarredElement)
        ):
            target = target.elements[1].value
            iterable = iterable.args[0].value
        else:
            break
    return target


def _tuple_element(target: cst.BaseExpression, name: str) -> bool:
    """``name`` is an element (at any depth) of a tuple target, not the whole target."""
    if not isinstance(target, (cst.Tuple, cst.List)):
        return False
    for element in target.elements:
        value = element.value
        if isinstance(value, cst.Name) and value.value == name:
            return True
        if _tuple_element(value, name):
            return True
    return False


def _loader_like(iterable: cst.BaseExpression) -> bool:
    """``loader``, ``train_loader``, ``enumerate(loader)``, ``tqdm(dataloader)``..."""
    if isinstance(iterable, cst.Call):
        func = iterable.func
        name = func.value if isinstance(func, cst.Name) else None
        if name in ("enumerate", "tqdm", "iter") and iterable.args:
            return _loader_like(iterable.args[0].value)
        return False
    key = binding_key(iterable)
    return key is not None and bool(_LOADER.search(key.rsplit(".", 1)[-1]))
