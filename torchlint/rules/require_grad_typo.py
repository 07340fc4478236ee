"""TL012 require-grad-typo.

A tensor accepts any attribute assignment, so ``w.require_grad = False`` (missing ``s``) raises
nothing: it creates a new attribute and leaves ``w.requires_grad`` as it was. The layer the author
meant to freeze keeps training, or the input meant to receive gradients never does.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.modules import is_module_like, is_module_proven
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

TYPO = "require_grad"
# Receivers that hold the author's own settings, where ``require_grad`` may be a chosen name.
_SETTINGS = frozenset(
    {
        "self",
        "cls",
        "args",
        "opt",
        "opts",
        "cfg",
        "config",
        "conf",
        "hparams",
        "hp",
        "options",
        "settings",
        "flags",
        "params",
        "kwargs",
        "ns",
        "namespace",
    }
)


class _Candidate:
    def __init__(self, target: cst.Attribute, key: str, fix: FixPlan | None, module: bool):
        self.target = target
        self.key = key
        self.fix = fix
        self.module = module


class RequireGradTypo(Rule):
    code = "TL012"
    name = "require-grad-typo"
    summary = "Assignment to `.require_grad`, a typo of `.requires_grad` that silently does nothing"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = ("require_grad",)

    def setup(self) -> None:
        self._targets: set[int] = set()
        self._candidates: list[_Candidate] = []
        self._read_keys: set[str] = set()

    # -- collection -------------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            attr = target.target
            if not (isinstance(attr, cst.Attribute) and attr.attr.value == TYPO):
                continue
            self._targets.add(id(attr))
            key = binding_key(attr.value)
            if key is None or key in _SETTINGS:
                continue
            if key.split(".")[0] in _SETTINGS - {"self", "cls"}:
                continue  # ``args.model.require_grad``: a settings tree
            if isinstance(node.value, cst.Name) and node.value.value == TYPO:
                continue  # ``x.require_grad = require_grad``: the author's own setting
            module = is_module_like(attr.value, self.facts, path=self.context.path_up())
            self._candidates.append(_Candidate(attr, key, self._fix(node, attr, module), module))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Attribute) and node.target.attr.value == TYPO:
            self._targets.add(id(node.target))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Attribute) and node.target.attr.value == TYPO:
            self._targets.add(id(node.target))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != TYPO or id(node) in self._targets:
            return
        key = binding_key(node.value)
        if key is not None:
            self._read_keys.add(key)  # read somewhere: an attribute of the author's own

    def visit_Call(self, node: cst.Call) -> None:
        # getattr(x, "require_grad", ...) / hasattr(...) read it by name.
        func = node.func
        if not (isinstance(func, cst.Name) and func.value in ("getattr", "hasattr", "setattr")):
            return
        if len(node.args) < 2:
            return
        name = node.args[1].value
        if isinstance(name, cst.SimpleString) and name.evaluated_value == TYPO:
            key = binding_key(node.args[0].value)
            if key is not None:
                self._read_keys.add(key)

    def leave_Module(self, original_node: cst.Module) -> None:
        for candidate in self._candidates:
            if candidate.key in self._read_keys:
                continue
            receiver = self.context.code(candidate.target.value)
            if candidate.module:
                message = (
                    f"`{receiver}.require_grad` is not an attribute torch reads: this assignment "
                    f"freezes nothing. Use `{receiver}.requires_grad_(...)` to change every "
                    "parameter of the module"
                )
            else:
                message = (
                    f"`{receiver}.require_grad` is a typo of `requires_grad`: the assignment "
                    "creates an unused attribute and leaves gradient tracking unchanged"
                )
            self.report(candidate.target, message, fix=candidate.fix)

    # -- the fix ----------------------------------------------------------------------------------
    def _fix(self, node: cst.Assign, attr: cst.Attribute, module: bool) -> FixPlan | None:
        if not module:
            return FixPlan(
                "Rename to `requires_grad`",
                Applicability.SAFE,
                (Replace(attr.attr, "requires_grad"),),
            )
        # ``model.requires_grad = False`` would be as inert: modules take ``requires_grad_()``.
        if len(node.targets) != 1 or not isinstance(
            self.context.stack[-2], cst.SimpleStatementLine
        ):
            return None
        receiver = self.context.code(attr.value)
        value = self.context.code(node.value)
        # Safe where the receiver is proven a module; a name like ``model`` alone may stand for
        # an object with no ``requires_grad_`` (the assignment was inert, the call would raise).
        proven = is_module_proven(attr.value, self.facts, path=self.context.path_up())
        return FixPlan(
            f"Call `{receiver}.requires_grad_(...)`",
            Applicability.SAFE if proven else Applicability.UNSAFE,
            (Replace(node, f"{receiver}.requires_grad_({value})"),),
        )
