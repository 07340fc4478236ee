"""TL002 softmax-into-cross-entropy.

``F.cross_entropy`` and ``nn.CrossEntropyLoss`` apply ``log_softmax`` to their input themselves.
Feeding them probabilities applies softmax twice: the loss still decreases, but its gradients are
squashed and the model trains slowly or plateaus, with nothing crashing.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import count_name, enclosing_scope, reaching_assignment
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

CROSS_ENTROPY_FUNCTIONS = frozenset({"torch.nn.functional.cross_entropy"})
CROSS_ENTROPY_MODULES = frozenset({"torch.nn.CrossEntropyLoss"})
SOFTMAX_FUNCTIONS = frozenset(
    {
        "torch.softmax",
        "torch.nn.functional.softmax",
        "torch.special.softmax",
        "torch.Tensor.softmax",
    }
)
SOFTMAX_MODULES = frozenset({"torch.nn.Softmax"})


def call_input(call: cst.Call) -> cst.Arg | None:
    """The ``input`` argument of a loss or functional call: first positional or ``input=``."""
    for arg in call.args:
        if arg.star:
            return None  # ``*args`` hides which argument is the input
        if arg.keyword is None:
            return arg
        break
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "input":
            return arg
    return None


class SoftmaxIntoCrossEntropy(Rule):
    code = "TL002"
    name = "softmax-into-cross-entropy"
    summary = "A cross-entropy loss is given softmax probabilities instead of logits"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("softmax", "Softmax")

    # -- what the call is ----------------------------------------------------------------------
    def _is_cross_entropy(self, call: cst.Call) -> bool:
        func = call.func
        if isinstance(func, cst.Call):  # nn.CrossEntropyLoss(...)(x, y)
            return self.context.qualified_name(func.func) in CROSS_ENTROPY_MODULES
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            return qualified in CROSS_ENTROPY_FUNCTIONS
        key = binding_key(func)
        return key is not None and self.facts.bindings.constructor_of(key) in CROSS_ENTROPY_MODULES

    def _softmax_argument(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """The tensor ``expr`` takes the softmax of, when ``expr`` is a softmax call; else None.

        A softmax call whose argument cannot be told (``*args``) answers the call itself.
        """
        if not isinstance(expr, cst.Call):
            return None
        func = expr.func
        if isinstance(func, cst.Call):  # nn.Softmax(dim=1)(x)
            if self.context.qualified_name(func.func) in SOFTMAX_MODULES:
                return self._first_argument(expr)
            return None
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            if qualified in SOFTMAX_FUNCTIONS:
                return self._first_argument(expr)
            return None  # some other imported callable (scipy, jax, ...)
        key = binding_key(func)
        if key is not None and key in self.facts.bindings.values:
            # A name or attribute bound in this file: softmax only when bound to nn.Softmax.
            if self.facts.bindings.constructor_of(key) in SOFTMAX_MODULES:
                return self._first_argument(expr)
            return None
        if isinstance(func, cst.Attribute) and func.attr.value == "softmax":
            receiver = func.value
            if (
                isinstance(receiver, cst.Name)
                and receiver.value == "self"
                and "softmax" in self.facts.bindings.functions
            ):
                return None  # the class's own ``softmax`` method
            return receiver  # tensor.softmax(dim)
        return None

    @staticmethod
    def _first_argument(call: cst.Call) -> cst.BaseExpression:
        arg = call_input(call)
        return arg.value if arg is not None else call

    # -- the check -----------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if not self._is_cross_entropy(node):
            return
        loss_input = call_input(node)
        if loss_input is None:
            return
        value = loss_input.value
        argument = self._softmax_argument(value)
        if argument is not None:
            fix = None
            if argument is not value:
                fix = FixPlan(
                    "Pass the logits instead of the softmax output",
                    Applicability.UNSAFE,
                    (Replace(value, argument, self.context.block_indent()),),
                )
            self.report(node, self._message(), fix=fix)
            return
        if not isinstance(value, cst.Name):
            return
        path = self.context.path_up()
        reaching = reaching_assignment(path, value.value)
        if reaching is None:
            return
        argument = self._softmax_argument(reaching.value)
        if argument is None:
            return
        fix = None
        if (
            isinstance(argument, cst.Name)
            and argument is not reaching.value
            and argument.value != value.value
            and not reaching.rebinds(argument.value)
        ):
            scope = enclosing_scope(path)
            if scope is not None and count_name(scope, value.value) == 2:
                fix = FixPlan(
                    f"Pass `{argument.value}` (the logits) instead of `{value.value}`",
                    Applicability.UNSAFE,
                    (Replace(value, cst.Name(argument.value)),),
                )
        self.report(node, self._message(f"`{value.value}` holds softmax probabilities"), fix=fix)

    @staticmethod
    def _message(detail: str = "its input is a softmax output") -> str:
        return (
            f"Cross-entropy applies `log_softmax` itself, but {detail}: pass the raw logits "
            "(softmax applied twice trains badly and silently)"
        )
