"""TL005 unregistered-submodules.

``nn.Module`` registers a submodule only when it is assigned to an attribute directly (or held by
``nn.ModuleList`` / ``nn.ModuleDict``). Layers kept in a plain list or dict still run in
``forward``, but ``.parameters()`` never yields them (the optimizer does not train them),
``.to(device)`` does not move them, and ``state_dict()`` does not save them.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.modules import is_module_constructor
from torchlint.analysis.walk import walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, FixPlan, Replace
from torchlint.rule import Rule

_PARAMETERS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
# Modules without parameters, buffers or a train/eval behaviour: harmless in a plain list.
_STATELESS = frozenset(
    {
        "ReLU",
        "ReLU6",
        "LeakyReLU",
        "GELU",
        "SiLU",
        "Tanh",
        "Sigmoid",
        "Softmax",
        "LogSoftmax",
        "Softmax2d",
        "ELU",
        "SELU",
        "CELU",
        "Mish",
        "Hardtanh",
        "Hardswish",
        "Hardsigmoid",
        "Softplus",
        "Softsign",
        "Softmin",
        "Tanhshrink",
        "Threshold",
        "GLU",
        "LogSigmoid",
        "Hardshrink",
        "Softshrink",
        "Identity",
        "Flatten",
        "Unflatten",
        "MaxPool1d",
        "MaxPool2d",
        "MaxPool3d",
        "AvgPool1d",
        "AvgPool2d",
        "AvgPool3d",
        "AdaptiveMaxPool1d",
        "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d",
        "AdaptiveAvgPool1d",
        "AdaptiveAvgPool2d",
        "AdaptiveAvgPool3d",
        "Upsample",
        "PixelShuffle",
        "PixelUnshuffle",
        "ZeroPad1d",
        "ZeroPad2d",
        "ZeroPad3d",
        "ConstantPad1d",
        "ConstantPad2d",
        "ConstantPad3d",
        "ReflectionPad1d",
        "ReflectionPad2d",
        "ReflectionPad3d",
        "ReplicationPad1d",
        "ReplicationPad2d",
        "ReplicationPad3d",
        "ChannelShuffle",
    }
)
# Calls in ``__init__`` that register modules by other means.
_REGISTERING = frozenset(
    {"add_module", "register_module", "register_parameter", "register_buffer", "setattr"}
)
# Builtins that only read a list.
_READ_ONLY = frozenset({"len", "print", "range", "enumerate", "zip", "isinstance", "str", "repr"})
_CONTAINERS = {
    ("module", "list"): "ModuleList",
    ("module", "dict"): "ModuleDict",
    ("parameter", "list"): "ParameterList",
    ("parameter", "dict"): "ParameterDict",
}


class UnregisteredSubmodules(Rule):
    code = "TL005"
    name = "unregistered-submodules"
    summary = (
        "Submodules or Parameters kept in a plain list or dict attribute in `__init__` are not "
        "registered: `.parameters()`, `.to()` and `state_dict()` do not see them"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("__init__",)

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1:
            return
        self._check(node.targets[0].target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check(node.target, node.value)

    # -- the check --------------------------------------------------------------------------------
    def _check(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value == "self"
        ):
            return
        shape = _shape(value)
        if shape is None:
            return
        elements = _elements(value)
        kinds = [self._kind(e) for e in elements]
        found = {k for k in kinds if k is not None and k != "stateless"}
        if not found:
            return
        init = self._module_init()
        if init is None or self._registered_otherwise(init, target.attr.value):
            return
        kinds = ["module" if k == "stateless" else k for k in kinds]
        kind = "parameter" if found == {"parameter"} else "module"
        container = _CONTAINERS[(kind, shape)]
        what = "Parameters" if kind == "parameter" else "submodules"
        attr = target.attr.value
        self.report(
            target,
            f"`self.{attr}` holds {what} in a plain {_SHAPE_WORDS[type(value)]}: they are not "
            f"registered, so `.parameters()`, `.to()` and `state_dict()` skip them; use "
            f"`nn.{container}`",
            fix=self._fix(value, kinds, kind, shape, container),
        )

    def _kind(self, expr: cst.BaseExpression) -> str | None:
        """ "module" / "parameter" for a constructor call of one, else None."""
        if not isinstance(expr, cst.Call):
            return None
        func = expr.func
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            if qualified in _PARAMETERS:
                return "parameter"
            if not is_module_constructor(qualified):
                return None
            tail = qualified.rsplit(".", 1)[-1]
            if qualified.startswith("torch.nn.") and (tail in _STATELESS or tail.endswith("Loss")):
                return "stateless"
            return "module"
        if isinstance(func, cst.Name):
            cls = self.facts.bindings.classes.get(func.value)
            if cls is not None and self.facts.is_module_class(cls):
                return "module"
        return None

    def _module_init(self) -> cst.FunctionDef | None:
        """The ``__init__`` of a MODULE CLASS holding the node (not through a nested function)."""
        function = self.context.enclosing(cst.FunctionDef, stop_at_scope=False)
        if function is None or function.name.value != "__init__":
            return None
        for ancestor in self.context.ancestors():
            if isinstance(ancestor, cst.FunctionDef) and ancestor is not function:
                return None
            if isinstance(ancestor, cst.ClassDef):
                return function if self.facts.is_module_class(ancestor) else None
        return None

    def _registered_otherwise(self, init: cst.FunctionDef, attr: str) -> bool:
        """The modules reach the module tree another way, or the attribute is replaced.

        ``nn.Sequential(*self.blocks)`` / ``nn.ModuleList(self.blocks)`` register them through a
        container; ``add_module`` / ``setattr`` register them one by one; another binding of
        ``self.blocks`` that is not a plain list or dict may replace the list.
        """
        for value in self.facts.bindings.values_of(f"self.{attr}", self.context.path_up()):
            if value is not None and _shape(value) is None:
                return True
        found = False

        def visit(node: cst.CSTNode) -> bool:
            nonlocal found
            if found:
                return False
            if isinstance(node, cst.Call):
                func = node.func
                name = func.attr.value if isinstance(func, cst.Attribute) else None
                if isinstance(func, cst.Name):
                    name = func.value
                if name in _REGISTERING:
                    found = True
                elif name not in _READ_ONLY and any(
                    _mentions(arg.value, attr) for arg in node.args
                ):
                    found = True
            return not found

        walk(init.body, visit)
        return found

    # -- the fix ----------------------------------------------------------------------------------
    def _fix(
        self,
        value: cst.BaseExpression,
        kinds: list[str | None],
        kind: str,
        shape: str,
        container: str,
    ) -> FixPlan | None:
        if any(k != kind for k in kinds):
            return None  # mixed contents: a Module/ParameterList would reject the others
        if isinstance(value, cst.Dict):
            # ModuleDict keys must be strings without dots.
            for element in value.elements:
                if not isinstance(element, cst.DictElement):
                    return None
                key = element.key
                if not isinstance(key, cst.SimpleString):
                    return None
                text = key.evaluated_value
                if not isinstance(text, str) or not text or "." in text:
                    return None
        elif isinstance(value, cst.DictComp):
            return None  # keys of unknown type
        spelled, imports = self._spelling(container)
        # A node's code range excludes its own parentheses: they stay where they are.
        inner: cst.BaseExpression = (
            cst.List(elements=value.elements)
            if isinstance(value, cst.Tuple)
            else value.with_changes(lpar=[], rpar=[])
        )
        wrapped = cst.Call(func=cst.parse_expression(spelled), args=[cst.Arg(inner)])
        return FixPlan(
            f"Wrap in `{spelled}`",
            Applicability.UNSAFE,
            (Replace(value, wrapped, self.context.block_indent()), *imports),
        )

    def _spelling(self, container: str) -> tuple[str, tuple[AddImport, ...]]:
        """How this file spells ``torch.nn.<container>``."""
        aliases = self.facts.names.aliases
        for local, full in aliases.items():
            if full == f"torch.nn.{container}":
                return local, ()
        for local, full in aliases.items():
            if full == "torch.nn":
                return f"{local}.{container}", ()
        for local, full in aliases.items():
            if full == "torch" and local == "torch":
                return f"torch.nn.{container}", ()
        return f"torch.nn.{container}", (AddImport("torch"),)


_SHAPE_WORDS = {
    cst.List: "list",
    cst.Tuple: "tuple",
    cst.ListComp: "list",
    cst.Dict: "dict",
    cst.DictComp: "dict",
}


def _mentions(expr: cst.CSTNode, attr: str) -> bool:
    """Whether ``self.<attr>`` occurs in ``expr``."""
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if (
            isinstance(node, cst.Attribute)
            and node.attr.value == attr
            and isinstance(node.value, cst.Name)
            and node.value.value == "self"
        ):
            found = True
        return not found

    walk(expr, visit)
    return found


def _shape(value: cst.BaseExpression) -> str | None:
    if isinstance(value, (cst.List, cst.Tuple, cst.ListComp)):
        return "list"
    if isinstance(value, (cst.Dict, cst.DictComp)):
        return "dict"
    return None


def _elements(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(value, (cst.List, cst.Tuple)):
        return [e.value for e in value.elements if not isinstance(e, cst.StarredElement)] + [
            cst.Name("_") for e in value.elements if isinstance(e, cst.StarredElement)
        ]
    if isinstance(value, cst.ListComp):
        return [value.elt]
    if isinstance(value, cst.Dict):
        return [
            e.value if isinstance(e, cst.DictElement) else cst.Name("_") for e in value.elements
        ]
    if isinstance(value, cst.DictComp):
        return [value.value]
    return []
