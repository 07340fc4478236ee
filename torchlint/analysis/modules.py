"""Module-likeness: whether an expression evaluates to a ``torch.nn.Module``, on positive evidence.

Several tensor methods share their name with a module method (``.to()``, ``.cuda()``,
``.float()``, ``.half()``...), and the two behave differently: a module converts itself in place
and returns itself, a tensor returns a converted copy. Rules that care (discarded results,
``require_grad`` typos) ask this module first. An expression is MODULE-LIKE when it is

- a call of a ``torch.nn`` class other than ``Parameter`` (``nn.Linear(...)``, ``nn.Sequential(...)``,
  ``nn.CrossEntropyLoss()``, ``DistributedDataParallel(model)``), a ``torchvision.models`` factory, a
  ``transformers`` ``*.from_pretrained(...)`` of a model class, or a MODULE CLASS of the file;
- ``m.to(...)`` / ``m.cuda()`` / ``m.train()`` / ``m.eval()`` / ``m.half()``... or
  ``torch.compile(m)`` of a module-like ``m``;
- a local name whose reaching assignment is module-like;
- ``self.x`` every binding of which in the file is module-like;
- a name or attribute conventionally holding a module: ``model``, ``net``, ``self.model``,
  ``encoder``, ``backbone``, ``criterion``, ``netG``, ``*_model``, ``teacher``...;
- ``self`` inside a MODULE CLASS.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.dataflow import binds, reaching_assignment
from torchlint.analysis.module_bases import is_module_base
from torchlint.analysis.walk import SCOPES, PathUp

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts


MODULE_NAME = re.compile(
    r"^_*(model|models|net|network|module|encoder|decoder|backbone|generator|discriminator|"
    r"classifier|teacher|student|critic|actor|policy|unet|vae|autoencoder|criterion|"
    r"loss_fn|loss_func|loss_function|lossfn|net[GD]|model[GD]|"
    r"\w+_(model|net|network|module|encoder|decoder|backbone|criterion)|"
    r"(model|net)_\w+)$",
    re.IGNORECASE,
)
# Module methods that return the module itself.
MODULE_SELF_METHODS = frozenset(
    {
        "to",
        "cuda",
        "cpu",
        "float",
        "double",
        "half",
        "bfloat16",
        "train",
        "eval",
        "requires_grad_",
        "to_empty",
        "xpu",
        "mps",
        "type",
        "share_memory",
        "apply",
    }
)
_NOT_MODULES = frozenset(
    {"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.Buffer", "torch.nn.Module"}
)
_MAX_DEPTH = 4


def is_module_constructor(qualified: str) -> bool:
    """``torch.nn.Linear``, ``torch.nn.parallel.DistributedDataParallel``, ``torchvision.models.x``."""
    if qualified in _NOT_MODULES:
        return False
    if qualified.startswith("torch.nn.") and not qualified.startswith(
        ("torch.nn.functional.", "torch.nn.init.", "torch.nn.utils.")
    ):
        return qualified.rsplit(".", 1)[-1][:1].isupper()
    if qualified.startswith("torchvision.models."):
        tail = qualified.rsplit(".", 1)[-1]
        if tail in ("get_weight", "get_model_weights", "list_models", "get_model_builder"):
            return False
        return not tail.endswith("Weights") and not tail.startswith("_")
    if qualified.startswith("transformers.") and qualified.endswith(".from_pretrained"):
        owner = qualified.rsplit(".", 2)[-2]
        return (
            owner.startswith(("AutoModel", "TFAutoModel"))
            or "Model" in owner
            or owner.endswith(("ForCausalLM", "ForSequenceClassification", "ForMaskedLM"))
        )
    return False


def is_module_like(
    expr: cst.BaseExpression,
    facts: TorchFacts,
    *,
    path: PathUp | None = None,
    _depth: int = 0,
) -> bool:
    """Whether ``expr`` is an ``nn.Module`` on positive evidence (see the module docstring).

    ``path`` is the ancestors of ``expr`` (``FileContext.path_up()`` shape), used to follow a local
    name to its reaching assignment and to tell whether ``self`` belongs to a module class.
    """
    if _depth > _MAX_DEPTH:
        return False
    if isinstance(expr, cst.Call):
        return _module_call(expr, facts, path, _depth)
    if isinstance(expr, cst.Name):
        if expr.value == "self":
            return path is not None and _self_is_module(path, facts)
        if MODULE_NAME.match(expr.value):
            return True
        if path is None:
            return False
        found = reaching_assignment(path, expr.value)
        if found is None:
            return False
        return is_module_like(
            found.value,
            facts,
            path=[(found.statement, found.value), *found.path],
            _depth=_depth + 1,
        )
    if isinstance(expr, cst.Attribute):
        key = binding_key(expr)
        if key is None:
            return False
        if MODULE_NAME.match(last_component(key)):
            return True
        values = facts.bindings.values.get(key, ())
        return bool(values) and all(
            v is not None and is_module_like(v, facts, _depth=_depth + 1) for v in values
        )
    return False


def _module_call(call: cst.Call, facts: TorchFacts, path: PathUp | None, depth: int) -> bool:
    func = call.func
    qualified = facts.names.resolve(func)
    if qualified is not None:
        if qualified == "torch.compile" and call.args:
            return is_module_like(call.args[0].value, facts, path=path, _depth=depth + 1)
        return is_module_constructor(qualified)
    if isinstance(func, cst.Name):
        cls = facts.bindings.classes.get(func.value)
        return cls is not None and facts.is_module_class(cls)
    if isinstance(func, cst.Attribute) and func.attr.value in MODULE_SELF_METHODS:
        return is_module_like(func.value, facts, path=path, _depth=depth + 1)
    return False


def _self_is_module(path: PathUp, facts: TorchFacts) -> bool:
    for ancestor, _child in path:
        if isinstance(ancestor, cst.ClassDef):
            return facts.is_module_class(ancestor)
    return False


# -- proof, for fixes: no naming conventions -----------------------------------------------------

# ``nn`` containers whose items (``c[i]``, ``for m in c``) are modules themselves.
_MODULE_CONTAINERS = frozenset({"ModuleList", "Sequential", "ModuleDict"})
# Module methods that yield modules: ``for m in model.children():``.
_MODULE_ITERATORS = frozenset({"children", "modules"})


def is_module_proven(
    expr: cst.BaseExpression,
    facts: TorchFacts,
    *,
    path: PathUp | None = None,
    _depth: int = 0,
) -> bool:
    """Whether ``expr`` is certainly an ``nn.Module``, from how it was made (never from its name).

    Stricter than :func:`is_module_like`, for fixes whose result is wrong on anything else:

    - a call of a ``torch.nn`` module class, a ``torchvision.models`` factory, a ``transformers``
      model's ``from_pretrained``, or a MODULE CLASS of the file; ``m.to(...)`` / ``m.cuda()``...
      and ``torch.compile(m)`` of a proven ``m``;
    - a local name whose reaching assignment is proven, or a parameter annotated with a module
      class (``model: nn.Module``) that the function never rebinds;
    - ``self.x`` every binding of which in the file is proven;
    - an item of a proven ``nn.ModuleList`` / ``nn.Sequential`` / ``nn.ModuleDict`` (``c[i]``, or
      the target of ``for layer in c:``), or of ``m.children()`` / ``m.modules()``;
    - ``self`` inside a MODULE CLASS.
    """
    if _depth > _MAX_DEPTH:
        return False
    depth = _depth + 1
    if isinstance(expr, cst.Call):
        func = expr.func
        if facts.project is not None and facts.calls.base_is_module(func):
            return True  # a module class of another project file
        qualified = facts.names.resolve(func)
        if qualified is not None:
            if qualified == "torch.compile" and expr.args:
                return is_module_proven(expr.args[0].value, facts, path=path, _depth=depth)
            return is_module_constructor(qualified)
        if isinstance(func, cst.Name):
            cls = facts.bindings.classes.get(func.value)
            return cls is not None and facts.is_module_class(cls)
        if isinstance(func, cst.Attribute) and func.attr.value in MODULE_SELF_METHODS:
            return is_module_proven(func.value, facts, path=path, _depth=depth)
        return False
    if isinstance(expr, cst.Name):
        if path is None:
            return False
        if expr.value == "self":
            return _self_is_module(path, facts)
        found = reaching_assignment(path, expr.value)
        if found is not None:
            return is_module_proven(
                found.value, facts, path=[(found.statement, found.value), *found.path], _depth=depth
            )
        return _proven_loop_item(expr.value, path, facts, depth) or _proven_parameter(
            expr.value, path, facts
        )
    if isinstance(expr, cst.Attribute):
        key = binding_key(expr)
        if key is None or not key.startswith("self."):
            return False
        values = facts.bindings.values.get(key, ())
        return bool(values) and all(
            v is not None and is_module_proven(v, facts, _depth=depth) for v in values
        )
    if isinstance(expr, cst.Subscript):
        return _proven_container(expr.value, facts, path, depth)
    return False


def _container_kind(expr: cst.BaseExpression, facts: TorchFacts) -> bool:
    """``nn.ModuleList(...)`` / ``nn.Sequential(...)`` / ``nn.ModuleDict(...)`` as written."""
    if not isinstance(expr, cst.Call):
        return False
    qualified = facts.names.resolve(expr.func)
    return (
        qualified is not None
        and is_module_constructor(qualified)
        and qualified.rsplit(".", 1)[-1] in _MODULE_CONTAINERS
    )


def _proven_container(
    expr: cst.BaseExpression, facts: TorchFacts, path: PathUp | None, depth: int
) -> bool:
    """A proven module container: its items are modules."""
    if depth > _MAX_DEPTH:
        return False
    if _container_kind(expr, facts):
        return True
    if isinstance(expr, cst.Attribute):
        key = binding_key(expr)
        if key is None or not key.startswith("self."):
            return False
        values = facts.bindings.values.get(key, ())
        return bool(values) and all(v is not None and _container_kind(v, facts) for v in values)
    if isinstance(expr, cst.Name) and path is not None:
        found = reaching_assignment(path, expr.value)
        return found is not None and _container_kind(found.value, facts)
    return False


def _proven_loop_item(name: str, path: PathUp, facts: TorchFacts, depth: int) -> bool:
    """``layer`` in ``for layer in self.layers:`` over a proven container, never rebound."""
    for ancestor, child in path:
        if isinstance(ancestor, SCOPES):
            return False
        if not isinstance(ancestor, cst.For) or child is not ancestor.body:
            continue
        target = ancestor.target
        if not (isinstance(target, cst.Name) and target.value == name):
            if binds(target, name):
                return False  # unpacked: ``for i, layer in enumerate(...)`` is not followed
            continue
        if binds(ancestor.body, name):
            return False
        iterable = ancestor.iter
        if (
            isinstance(iterable, cst.Call)
            and isinstance(iterable.func, cst.Attribute)
            and iterable.func.attr.value in _MODULE_ITERATORS
            and not iterable.args
        ):
            return is_module_proven(iterable.func.value, facts, path=path, _depth=depth)
        return _proven_container(iterable, facts, path, depth)
    return False


def _proven_parameter(name: str, path: PathUp, facts: TorchFacts) -> bool:
    """A parameter of the enclosing function annotated with a module class, never rebound."""
    for ancestor, child in path:
        if isinstance(ancestor, (cst.ClassDef, cst.Lambda)):
            return False
        if not isinstance(ancestor, cst.FunctionDef):
            continue
        if child is not ancestor.body:
            return False
        params = ancestor.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.name.value != name or param.annotation is None:
                continue
            if binds(ancestor.body, name):
                return False
            annotation = param.annotation.annotation
            qualified = facts.names.resolve(annotation)
            if qualified is not None:
                return is_module_base(qualified)
            if isinstance(annotation, cst.Name):
                cls = facts.bindings.classes.get(annotation.value)
                return cls is not None and facts.is_module_class(cls)
            return False
        return False
    return False


def is_proven_module_class(
    cls: cst.ClassDef, facts: TorchFacts, _seen: frozenset[int] = frozenset()
) -> bool:
    """A class that derives from ``torch.nn.Module`` through bases torchlint can see: a torch or
    Lightning module class (however imported), or a class of this file that is one.

    Stricter than ``TorchFacts.is_module_class``, which also takes a class with an unresolvable base
    and a ``forward`` method: a base from elsewhere may be no module at all (scikit-learn's
    ``BaseEstimator``), or set the module up itself (fastai's ``Module``).
    """
    if id(cls) in _seen:
        return False
    for base, qualified, local in facts.class_bases(cls):
        if qualified is not None and is_module_base(qualified):
            return True
        if local is not None and is_proven_module_class(local, facts, _seen | {id(cls)}):
            return True
        if local is None and facts.project is not None:
            if facts.calls.base_is_module(base.value):  # a module class of another project file
                return True
    return False
