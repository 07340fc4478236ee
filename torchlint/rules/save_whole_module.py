"""TL202 save-whole-module.

``torch.save(model, path)`` pickles the module object: its class is stored by import path, so the
file loads only with ``weights_only=False`` (which can run arbitrary code) and only while that class
still lives at the same import path with compatible code. ``model.state_dict()`` saves tensors.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component, scope_bindings
from torchlint.analysis.data import keyword_arg
from torchlint.analysis.modules import MODULE_SELF_METHODS, is_module_constructor
from torchlint.analysis.names import dotted_name
from torchlint.analysis.signatures import has_parameter
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

_MODEL_NAME = re.compile(
    r"^_*(model|net|network|\w+_model|\w+_net|net(?-i:[A-Z])\w*|\w*(?-i:Net))$",
    re.IGNORECASE,
)
_MODULE_FACTORIES = ("timm.create_model", "torch.compile")
_MAX_DEPTH = 6

MODULE, NOT_MODULE, UNKNOWN = "module", "not-module", "unknown"


class SaveWholeModule(Rule):
    code = "TL202"
    name = "save-whole-module"
    summary = "`torch.save` of a whole `nn.Module` instead of its `state_dict()`"
    category = Category.SECURITY
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.UNSAFE
    # Tests pickle whole models on purpose (to check that they pickle, or to build fixtures).
    report_in_tests = False
    needles = ("save",)

    def setup(self) -> None:
        self._scope_values: dict[tuple[int, str], list[cst.BaseExpression | None]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != "torch.save":
            return
        obj = keyword_arg(node, "obj")
        if obj is None and node.args and node.args[0].keyword is None and not node.args[0].star:
            obj = node.args[0]
        if obj is None:
            return
        saved: list[cst.BaseExpression] = []
        if isinstance(obj.value, cst.Dict):
            for element in obj.value.elements:
                if isinstance(element, cst.DictElement) and self._is_module(element.value):
                    saved.append(element.value)
        elif self._is_module(obj.value):
            saved.append(obj.value)
        if not saved:
            return
        shown = self.context.code(saved[0])
        where = "inside the saved dict " if isinstance(obj.value, cst.Dict) else ""
        changes = tuple(Replace(e, f"{self.context.code(e)}.state_dict()") for e in saved)
        self.report(
            node,
            f"`torch.save` pickles the whole module `{shown}` {where}by its class's import path: "
            "loading it needs `weights_only=False` and the same code layout; save "
            f"`{shown}.state_dict()` instead",
            fix=FixPlan("Save the `state_dict()`", Applicability.UNSAFE, changes),
        )

    # -- is it a module? -------------------------------------------------------------------------
    def _is_module(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            return self._classify_value(expr, 0) == MODULE
        key = binding_key(expr)
        if key is None or "[]" in key:
            return False
        verdict = self._classify_key(key, expr, 0)
        if verdict == NOT_MODULE:
            return False
        if verdict == MODULE:
            return True
        name = last_component(key)
        if "." in key and name == "module":
            return True  # ``model.module``: the model unwrapped from DDP/DataParallel
        return bool(_MODEL_NAME.match(name))

    def _classify_key(self, key: str, use: cst.BaseExpression | None, depth: int) -> str:
        verdicts = set()
        local = "." not in key
        if local:
            if use is not None:
                verdicts.add(self._annotation_verdict(key))
            values = self._local_values(key)
        else:
            values = list(self.facts.bindings.values.get(key, ()))  # ``self.model``: class-wide
        for value in values:
            verdicts.add(
                UNKNOWN if value is None else self._classify_value(value, depth + 1, local=local)
            )
        if NOT_MODULE in verdicts:
            return NOT_MODULE
        return MODULE if MODULE in verdicts else UNKNOWN

    def _local_values(self, name: str) -> list[cst.BaseExpression | None]:
        """Bindings of ``name`` in the function around the call, else at module level."""
        function = self.context.enclosing(cst.FunctionDef)
        if function is not None:
            values = self._bindings(function, name)
            if values or has_parameter(function, name):
                return values
        return self._bindings(self.context.module, name)

    def _bindings(self, scope: cst.CSTNode, name: str) -> list[cst.BaseExpression | None]:
        # One walk per scope and name: files save many checkpoints from one module-level name.
        key = (id(scope), name)
        if key not in self._scope_values:
            self._scope_values[key] = scope_bindings(scope, name)
        return self._scope_values[key]

    def _annotation_verdict(self, name: str) -> str:
        """From the annotation of a parameter ``name`` of the enclosing function."""
        function = self.context.enclosing(cst.FunctionDef)
        if function is None:
            return UNKNOWN
        params = function.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            if param.name.value != name or param.annotation is None:
                continue
            annotation = param.annotation.annotation
            qualified = self.context.qualified_name(annotation) or dotted_name(annotation) or ""
            if qualified.endswith("Module") or self._local_module_class(annotation):
                return MODULE
            return NOT_MODULE
        return UNKNOWN

    def _local_module_class(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, cst.Name):
            return False
        cls = self.facts.bindings.classes.get(expr.value)
        return cls is not None and self.facts.is_module_class(cls)

    def _classify_value(self, value: cst.BaseExpression, depth: int, *, local: bool = True) -> str:
        """``local``: ``value`` comes from the function around the call, so its bare names can be
        followed there; a value from another method (``self.model = model``) cannot."""
        if depth > _MAX_DEPTH:
            return UNKNOWN
        if isinstance(value, (cst.Name, cst.Attribute)):
            key = binding_key(value)
            if key is None:
                return UNKNOWN
            if isinstance(value, cst.Name) and value.value in ("None", "True", "False"):
                return NOT_MODULE
            if isinstance(value, cst.Name) and not local:
                return UNKNOWN
            return self._classify_key(key, None, depth)
        if isinstance(value, (cst.Subscript, cst.IfExp, cst.Await)):
            return UNKNOWN
        if not isinstance(value, cst.Call):
            return NOT_MODULE  # literals, containers, comprehensions, arithmetic
        func = value.func
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            if is_module_constructor(qualified) or qualified.startswith(_MODULE_FACTORIES):
                return MODULE
            if qualified == "copy.deepcopy" and value.args:
                return self._classify_value(value.args[0].value, depth + 1, local=local)
            if _imported_class(qualified):
                # ``from model import Net``: a class from the project's own modules (or another
                # library): it may well be a module; the name it is bound to decides.
                return UNKNOWN
            return NOT_MODULE  # torch.load, torch.jit.script, joblib.load, other functions
        if isinstance(func, cst.Name):
            cls = self.facts.bindings.classes.get(func.value)
            if cls is not None:
                return MODULE if self.facts.is_module_class(cls) else NOT_MODULE
            return UNKNOWN  # build_model(cfg), get_model(): a local factory
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in ("state_dict", "parameters", "named_parameters", "buffers"):
                return NOT_MODULE
            if method in MODULE_SELF_METHODS:
                return self._classify_value(func.value, depth + 1, local=local)
        return UNKNOWN


def _imported_class(qualified: str) -> bool:
    """A CapWords callable imported from outside torch (``model.Net``), not a loader."""
    if qualified.split(".", 1)[0] in ("torch", "torchvision", "pickle", "joblib", "dill"):
        return False
    last = qualified.rsplit(".", 1)[-1]
    return last[:1].isupper() and not last.isupper()
