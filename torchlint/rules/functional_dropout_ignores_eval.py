"""TL004 functional-dropout-ignores-eval.

``nn.Dropout`` follows the module's mode; ``F.dropout`` does not: it reads only its ``training=``
argument, which defaults to True. Called inside a module without that argument, dropout keeps
zeroing activations after ``model.eval()``, so validation scores and predictions are noisy and
wrong. The alpha variants have the opposite default (False) and never drop anything, even while
training.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.modules import is_proven_module_class
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule

# Functional dropouts: the position of ``training`` among the positional arguments, and its default.
_ON_BY_DEFAULT = frozenset(
    {
        "torch.nn.functional.dropout",
        "torch.nn.functional.dropout1d",
        "torch.nn.functional.dropout2d",
        "torch.nn.functional.dropout3d",
    }
)
_OFF_BY_DEFAULT = frozenset(
    {"torch.nn.functional.alpha_dropout", "torch.nn.functional.feature_alpha_dropout"}
)
_TRAINING_POSITION = 2  # (input, p, training, inplace)


class FunctionalDropoutIgnoresEval(Rule):
    code = "TL004"
    name = "functional-dropout-ignores-eval"
    summary = (
        "`F.dropout` in a module method without `training=`, so it ignores `.train()`/`.eval()`"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = ("dropout",)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.qualified_name(node.func)
        if qualified not in _ON_BY_DEFAULT and qualified not in _OFF_BY_DEFAULT:
            return
        if any(a.star for a in node.args):
            return  # ``*args`` / ``**kwargs`` may carry ``training``
        if any(a.keyword is not None and a.keyword.value == "training" for a in node.args):
            return
        if sum(1 for a in node.args if a.keyword is None) > _TRAINING_POSITION:
            return
        found = self._module_method()
        if found is None:
            return
        method, owner_class = found
        function = qualified.rsplit(".", 1)[-1]
        owner = _instance_name(method)
        if qualified in _ON_BY_DEFAULT:
            message = (
                f"`{function}` without `training=` always drops activations, even after "
                "`.eval()`: pass `training=self.training` (or use `nn.Dropout`)"
            )
            applicability = Applicability.SAFE
        else:
            message = (
                f"`{function}` without `training=` defaults to `training=False` and never drops "
                "anything, even while training: pass `training=self.training`"
            )
            # Turning dropout on changes what training computes: opt-in.
            applicability = Applicability.UNSAFE
        if applicability is Applicability.SAFE and not is_proven_module_class(
            owner_class, self.facts
        ):
            # A class with an unseen base and a ``forward`` is only probably a module: it may
            # have no ``training`` attribute.
            applicability = Applicability.UNSAFE
        fix = None
        if owner is not None:
            fix = FixPlan(
                f"Pass `training={owner}.training`",
                applicability,
                (
                    Replace(
                        node,
                        add_keyword_argument(node, "training", f"{owner}.training"),
                        self.context.block_indent(),
                    ),
                ),
            )
        self.report(node, message, fix=fix)

    def _module_method(self) -> tuple[cst.FunctionDef, cst.ClassDef] | None:
        """The method of a MODULE CLASS the call runs in (through nested functions too), and
        the class."""
        method: cst.FunctionDef | None = None
        for ancestor in self.context.ancestors():
            if isinstance(ancestor, cst.FunctionDef):
                method = ancestor
            elif isinstance(ancestor, cst.ClassDef):
                if method is None or not self.facts.is_module_class(ancestor):
                    return None
                return method, ancestor
        return None


def _instance_name(method: cst.FunctionDef) -> str | None:
    """``self`` (the first parameter) of an instance method; None for static/class methods."""
    for decorator in method.decorators:
        value = decorator.decorator
        if isinstance(value, cst.Name) and value.value in ("staticmethod", "classmethod"):
            return None
    params = method.params.posonly_params or method.params.params
    if not params:
        return None
    return params[0].name.value
