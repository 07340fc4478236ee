"""Tensor-likeness: whether an expression evaluates to a ``torch.Tensor``, on positive evidence.

Python has no types to read, so torchlint answers "is this a tensor?" the way a reviewer does:
from how the value was made. An expression is TENSOR-LIKE when it is

- a call of a torch function that returns tensors (``torch.zeros(...)``, ``torch.argmax(...)``,
  ``F.softmax(...)``, ``torch.linalg.norm(...)``); never ``torch.nn.Linear(...)``, ``torch.load``,
  ``torch.device``, ``torch.no_grad()``...;
- a call of a method only tensors have (``x.detach()``, ``x.cuda()``, ``x.float()``,
  ``x.view(...)``, ``x.softmax(...)``...), whatever ``x`` is;
- a call of a method tensors share with NumPy arrays or lists (``.sum()``, ``.argmax()``,
  ``.reshape()``...) on a tensor-like receiver;
- ``x.grad``; ``x.data`` / ``x.T`` / ``x[...]`` of a tensor-like ``x``;
- arithmetic or a comparison with a tensor-like operand (``pred == y`` when ``pred`` is one);
- a local name whose reaching assignment (:mod:`torchlint.analysis.dataflow`) is tensor-like, or a
  name the caller already knows to be a tensor (a loss that is backpropagated, say).

Anything else (a model's output, a loop variable, a parameter) is not known to be a tensor.
"""

from __future__ import annotations

from collections.abc import Collection

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import binds, reaching_assignment
from torchlint.analysis.names import ImportMap
from torchlint.analysis.walk import PathUp

# Methods of torch.Tensor that NumPy arrays, lists and Python numbers do not have.
TENSOR_ONLY_METHODS = frozenset(
    {
        "detach",
        "detach_",
        "cuda",
        "cpu",
        "float",
        "half",
        "double",
        "long",
        "int",
        "bool",
        "bfloat16",
        "short",
        "byte",
        "char",
        "type_as",
        "view",
        "view_as",
        "unsqueeze",
        "contiguous",
        "clone",
        "softmax",
        "log_softmax",
        "sigmoid",
        "relu",
        "masked_fill",
        "expand",
        "expand_as",
        "permute",
        "requires_grad_",
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
        "new_tensor",
        "narrow",
        "index_select",
        "gather",
        "scatter",
        "chunk",
        "pin_memory",
        "to_dense",
        "logsumexp",
        "softplus",
        "tanh",
        "exp_",
        "add_",
        "mul_",
        "div_",
        "sub_",
        "clamp",
        "clamp_",
    }
)
# Methods tensors share with arrays or lists: tensor-like only on a tensor-like receiver.
SHARED_METHODS = frozenset(
    {
        "sum",
        "mean",
        "max",
        "min",
        "argmax",
        "argmin",
        "abs",
        "sqrt",
        "exp",
        "log",
        "reshape",
        "flatten",
        "squeeze",
        "transpose",
        "t",
        "pow",
        "std",
        "var",
        "norm",
        "round",
        "sign",
        "eq",
        "ne",
        "gt",
        "lt",
        "ge",
        "le",
        "topk",
        "sort",
        "cumsum",
        "prod",
        "all",
        "any",
        "square",
        "neg",
        "repeat",
        "flip",
        "nonzero",
        "masked_select",
        "diag",
        "trace",
        "dot",
        "matmul",
        "mm",
        "bmm",
        "add",
        "sub",
        "mul",
        "div",
        "split",
    }
)
# torch functions (``torch.<name>``) that do not return a tensor.
_NOT_TENSOR_FUNCTIONS = frozenset(
    {
        "device",
        "no_grad",
        "enable_grad",
        "inference_mode",
        "set_grad_enabled",
        "load",
        "save",
        "manual_seed",
        "seed",
        "initial_seed",
        "is_tensor",
        "is_floating_point",
        "numel",
        "is_grad_enabled",
        "compile",
        "get_default_dtype",
        "set_default_dtype",
        "Generator",
        "Size",
        "dtype",
        "finfo",
        "iinfo",
        "autocast",
        "use_deterministic_algorithms",
        "set_printoptions",
        "set_num_threads",
        "get_num_threads",
        "is_complex",
        "typename",
        "set_float32_matmul_precision",
        "get_rng_state",
        "set_rng_state",
        "is_nonzero",
        "are_deterministic_algorithms_enabled",
        "equal",
        "allclose",
        "is_inference_mode_enabled",
    }
)
_TENSOR_MODULES = ("torch.nn.functional.", "torch.linalg.", "torch.fft.", "torch.special.")
_MAX_DEPTH = 4


def is_tensor_function(qualified: str) -> bool:
    """A torch function that returns a tensor: ``torch.zeros``, ``torch.nn.functional.relu``..."""
    if qualified.startswith(_TENSOR_MODULES):
        tail = qualified.rsplit(".", 1)[-1]
        return tail[:1].islower()
    if not qualified.startswith("torch.") or qualified.count(".") != 1:
        return False
    tail = qualified[len("torch.") :]
    return tail[:1].islower() and tail not in _NOT_TENSOR_FUNCTIONS and not tail.startswith("is_")


def _is_known(expr: cst.BaseExpression, known: Collection[str]) -> bool:
    """A name or attribute the caller already knows to be a tensor."""
    if not isinstance(expr, (cst.Name, cst.Attribute)):
        return False
    key = binding_key(expr)
    return key is not None and key in known


def _reaching_value(
    name: cst.Name, path: PathUp | None
) -> tuple[cst.BaseExpression, PathUp] | None:
    """The value last assigned to ``name`` before its use at ``path``, with that value's own
    ancestors; None when unknown."""
    if path is None:
        return None
    found = reaching_assignment(path, name.value)
    if found is None:
        return None
    return found.value, [(found.statement, found.value), *found.path]


def is_tensor_like(
    expr: cst.BaseExpression,
    names: ImportMap,
    *,
    path: PathUp | None = None,
    known: Collection[str] = (),
    _depth: int = 0,
) -> bool:
    """Whether ``expr`` is a tensor on positive evidence (see the module docstring).

    ``path`` is the ancestors of ``expr`` (``FileContext.path_up()`` shape), used to follow a local
    name to its reaching assignment; ``known`` holds binding keys (``loss``, ``self.buf``) the
    caller already knows to be tensors.
    """
    if _depth > _MAX_DEPTH:
        return False

    def again(sub: cst.BaseExpression, sub_path: PathUp | None = path, depth: int = _depth) -> bool:
        return is_tensor_like(sub, names, path=sub_path, known=known, _depth=depth)

    if _is_known(expr, known):
        return True
    if isinstance(expr, cst.Name):
        reached = _reaching_value(expr, path)
        return reached is not None and again(*reached, _depth + 1)
    if isinstance(expr, cst.Call):
        func = expr.func
        qualified = names.resolve(func)
        if qualified is not None:
            return is_tensor_function(qualified)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if isinstance(func.value, cst.Name) and func.value.value in names.relative:
                return False  # ``from .. import lowering as L; L.view(...)``: a function
            if method in TENSOR_ONLY_METHODS:
                return True
            if method in SHARED_METHODS:
                return again(func.value)
        return False
    if isinstance(expr, cst.Attribute):
        attr = expr.attr.value
        if attr == "grad":
            return True
        if attr in ("data", "T", "mT", "H"):
            return again(expr.value)
        return False
    if isinstance(expr, cst.Subscript):
        return again(expr.value)
    if isinstance(expr, cst.BinaryOperation):
        sequences = (cst.List, cst.Tuple, cst.ListComp)
        if isinstance(expr.operator, cst.Multiply) and (
            isinstance(expr.left, sequences) or isinstance(expr.right, sequences)
        ):
            return False  # ``[0] * n.sum()``: a repeated list, ``n`` serving as an int
        return again(expr.left) or again(expr.right)
    if isinstance(expr, cst.UnaryOperation):
        return again(expr.expression)
    if isinstance(expr, cst.Comparison):
        return again(expr.left) or any(again(c.comparator) for c in expr.comparisons)
    return False


# -- names a scope knows to be tensors (for ``known=``) -------------------------------------------

_TENSOR_ANNOTATIONS = frozenset(
    {"torch.Tensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter"}
)
_PARAMETER_CONSTRUCTORS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_PARAMETER_ITERATORS = frozenset({"parameters", "named_parameters", "buffers", "named_buffers"})


def is_tensor_annotation(annotation: cst.BaseExpression, names: ImportMap) -> bool:
    """``torch.Tensor`` / ``Tensor`` / ``nn.Parameter`` (also as a string annotation)."""
    if isinstance(annotation, cst.SimpleString):
        text = annotation.evaluated_value
        if not isinstance(text, str):
            return False
        try:
            annotation = cst.parse_expression(text)
        except cst.ParserSyntaxError:
            return False
    return names.resolve(annotation) in _TENSOR_ANNOTATIONS


def _parameter_iterable(iterable: cst.BaseExpression) -> bool:
    """``m.parameters()``, ``m.named_parameters()``, ``group["params"]``, ``enumerate(...)`` of one."""
    if isinstance(iterable, cst.Call):
        func = iterable.func
        if isinstance(func, cst.Attribute) and func.attr.value in _PARAMETER_ITERATORS:
            return True
        if isinstance(func, cst.Name) and func.value in ("enumerate", "list") and iterable.args:
            return _parameter_iterable(iterable.args[-1 if func.value == "list" else 0].value)
        return False
    if isinstance(iterable, cst.Subscript) and len(iterable.slice) == 1:
        index = iterable.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            return index.value.evaluated_value == "params"
    return False


def _loop_tensor_name(loop: cst.For) -> str | None:
    """The parameter a ``for`` over parameters binds: ``p`` in ``for name, p in named_...``."""
    if not _parameter_iterable(loop.iter):
        return None
    target: cst.BaseExpression = loop.target
    if isinstance(target, cst.Tuple) and target.elements:
        target = target.elements[-1].value
    return target.value if isinstance(target, cst.Name) else None


def scope_tensor_names(path: PathUp, names: ImportMap) -> set[str]:
    """Local names that are tensors wherever the node at ``path`` runs, on positive evidence.

    - a parameter of the enclosing function annotated ``torch.Tensor`` / ``nn.Parameter`` that the
      function never rebinds;
    - the target of an enclosing ``for`` over ``m.parameters()``, ``m.named_parameters()``,
      ``m.buffers()`` or an optimizer's ``group["params"]`` that the loop body never rebinds.

    Pass the result as ``known=`` to :func:`is_tensor_like`.
    """
    out: set[str] = set()
    for ancestor, child in path:
        if isinstance(ancestor, cst.For) and child is ancestor.body:
            name = _loop_tensor_name(ancestor)
            if name is not None and not binds(ancestor.body, name):
                out.add(name)
        elif isinstance(ancestor, cst.FunctionDef):
            params = ancestor.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                annotation = param.annotation
                if annotation is None or not is_tensor_annotation(annotation.annotation, names):
                    continue
                if not binds(ancestor.body, param.name.value):
                    out.add(param.name.value)
            break  # the function's own scope ends here
        elif isinstance(ancestor, (cst.ClassDef, cst.Lambda)):
            break
    return out


def is_parameter_constructor(qualified: str | None) -> bool:
    """``nn.Parameter(...)``: a tensor, though not built by a tensor function."""
    return qualified in _PARAMETER_CONSTRUCTORS


def is_tensor_proven(
    expr: cst.BaseExpression,
    names: ImportMap,
    *,
    path: PathUp | None = None,
    known: Collection[str] = (),
    _depth: int = 0,
) -> bool:
    """Whether ``expr`` is certainly a tensor: every step back to a torch function is known.

    Stricter than :func:`is_tensor_like`, for fixes whose result is wrong on anything else: a
    method call (``x.clone()``, ``x.view(...)``, ``x.sum()``), ``x.grad``, ``x.data``, ``x[...]`` or
    arithmetic counts only when ``x`` (an operand) is proven itself, since user classes, NumPy
    arrays and modules have methods of those names too. Proven at the root: a torch function that
    returns tensors (``torch.zeros``, ``F.relu``...), ``nn.Parameter(...)``, or a name in ``known``
    (see :func:`scope_tensor_names`).
    """
    if _depth > _MAX_DEPTH:
        return False

    def again(sub: cst.BaseExpression, sub_path: PathUp | None = path, depth: int = _depth) -> bool:
        return is_tensor_proven(sub, names, path=sub_path, known=known, _depth=depth)

    if _is_known(expr, known):
        return True
    if isinstance(expr, cst.Name):
        reached = _reaching_value(expr, path)
        return reached is not None and again(*reached, _depth + 1)
    if isinstance(expr, cst.Call):
        func = expr.func
        qualified = names.resolve(func)
        if qualified is not None:
            return is_tensor_function(qualified) or is_parameter_constructor(qualified)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in TENSOR_ONLY_METHODS or method in SHARED_METHODS:
                return again(func.value)
        return False
    if isinstance(expr, cst.Attribute):
        if expr.attr.value in ("data", "T", "mT", "H"):
            return again(expr.value)
        return False
    if isinstance(expr, cst.Subscript):
        return again(expr.value)
    if isinstance(expr, cst.BinaryOperation):
        sequences = (cst.List, cst.Tuple, cst.ListComp)
        if isinstance(expr.left, sequences) or isinstance(expr.right, sequences):
            return False
        return again(expr.left) or again(expr.right)
    if isinstance(expr, cst.UnaryOperation):
        return again(expr.expression)
    return False
