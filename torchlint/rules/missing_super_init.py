"""TL013 missing-super-init.

``nn.Module.__init__`` creates the dictionaries that hold parameters, buffers, submodules and hooks.
A module class whose ``__init__`` never calls it fails on the first ``self.layer = nn.Linear(...)``
(or, with no attributes, on the first call), far from the line that is missing.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.modules import is_proven_module_class
from torchlint.analysis.statements import is_docstring
from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertAfter, InsertBefore
from torchlint.rule import Rule

# Bases whose ``__init__`` takes no required argument: ``super().__init__()`` is then correct.
_ARGLESS_BASES = frozenset({"torch.nn.Module", "lightning.pytorch.LightningModule"})


class _InitCallFinder(Walker):
    """Any ``super().__init__(...)``, ``super(C, self).__init__(...)`` or ``X.__init__(...)``."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Call(self, node: cst.Call) -> bool:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "__init__":
            self.found = True
        return not self.found


def _calls_base_init(function: cst.FunctionDef) -> bool:
    finder = _InitCallFinder()
    finder.walk(function.body)
    return finder.found


def _only_raises(function: cst.FunctionDef) -> bool:
    """``def __init__(self): raise NotImplementedError``: an abstract stub, never constructed."""
    if not isinstance(function.body, cst.IndentedBlock):
        return False
    body = [s for s in function.body.body if not is_docstring(s)]
    return (
        len(body) == 1
        and isinstance(body[0], cst.SimpleStatementLine)
        and isinstance(body[0].body[0], cst.Raise)
    )


def _is_overload(function: cst.FunctionDef) -> bool:
    for decorator in function.decorators:
        expr = decorator.decorator
        name = expr.attr.value if isinstance(expr, cst.Attribute) else getattr(expr, "value", None)
        if name in ("overload", "abstractmethod"):
            return True
    return False


def _has_required_parameters(function: cst.FunctionDef) -> bool:
    params = function.params
    positional = [*params.posonly_params, *params.params]
    required = [p for p in positional[1:] if p.default is None]  # past ``self``
    required += [p for p in params.kwonly_params if p.default is None]
    return bool(required)


class MissingSuperInit(Rule):
    code = "TL013"
    name = "missing-super-init"
    summary = "A module class's `__init__` never calls `super().__init__()`"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    # A test's stand-in module that is never called needs no registries; one that is called
    # fails the test at once.
    report_in_tests = False
    needles = ("__init__",)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value != "__init__":
            return
        parent = self.context.stack[-2] if len(self.context.stack) >= 2 else None
        owner = self.context.stack[-3] if len(self.context.stack) >= 3 else None
        if not isinstance(parent, cst.IndentedBlock) or not isinstance(owner, cst.ClassDef):
            return  # only an ``__init__`` defined directly in a class body
        # Only classes torchlint can follow to ``torch.nn.Module``: a base from elsewhere may set
        # the module up itself (fastai's ``Module`` calls ``nn.Module.__init__`` from its
        # metaclass, so its subclasses never call it).
        if not is_proven_module_class(owner, self.facts) or _is_overload(node):
            return
        if _calls_base_init(node) or _only_raises(node):
            return
        self.report(
            node.name,
            f"`{owner.name.value}.__init__` never calls `super().__init__()`: the module's "
            "parameter, buffer and submodule registries are never created, so assigning a layer "
            "or calling the module fails",
            fix=self._fix(node, owner),
        )

    def _fix(self, function: cst.FunctionDef, owner: cst.ClassDef) -> FixPlan | None:
        if not isinstance(function.body, cst.IndentedBlock) or not self._argless_base(owner):
            return None
        body = list(function.body.body)
        code = "super().__init__()"
        title = "Call `super().__init__()` first"
        if body and is_docstring(body[0]):
            if len(body) == 1:
                return FixPlan(title, Applicability.SAFE, (InsertAfter(body[0], code),))
            return FixPlan(title, Applicability.SAFE, (InsertBefore(body[1], code),))
        return FixPlan(title, Applicability.SAFE, (InsertBefore(body[0], code),))

    def _argless_base(self, owner: cst.ClassDef) -> bool:
        """One base, whose ``__init__`` needs no argument: the fix is then certainly right."""
        bases = [b for b in owner.bases if b.keyword is None]
        if len(bases) != 1 or bases[0].star:
            return False
        base = bases[0].value
        if self.context.qualified_name(base) in _ARGLESS_BASES:
            return True
        if isinstance(base, cst.Name):
            local = self.facts.bindings.classes.get(base.value)
            if local is None or local is owner or not isinstance(local.body, cst.IndentedBlock):
                return False
            for statement in local.body.body:
                if isinstance(statement, cst.FunctionDef) and statement.name.value == "__init__":
                    return not _has_required_parameters(statement)
        return False
