"""TL009 softmax-into-nll-or-log.

``nll_loss`` / ``nn.NLLLoss`` expect log-probabilities: given probabilities (a softmax output) they
compute ``-p[target]`` instead of ``-log p[target]``, a different loss whose gradient barely
depends on how wrong the model is. ``torch.log(softmax(x))`` computes the right thing in two
steps, but a softmax entry that underflows to 0 turns into ``-inf`` and the loss into ``nan``;
``log_softmax`` computes the same values in one stable step.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.activations import SOFTMAX, ActivationCall, first_input, reaching_activation
from torchlint.analysis.losses import loss_call
from torchlint.analysis.training_loops import call_attr, receiver
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

NLL_FUNCTIONS = frozenset({"torch.nn.functional.nll_loss"})
NLL_CLASSES = frozenset({"torch.nn.NLLLoss"})
LOG_FUNCTIONS = frozenset({"torch.log", "torch.Tensor.log"})


def _log_softmax(activation: ActivationCall) -> cst.Call | None:
    """The softmax call rewritten as the matching log-softmax, or None when it cannot be spelled."""
    call = activation.call
    func = call.func
    if activation.form in ("function", "method"):
        if isinstance(func, cst.Attribute):
            return call.with_changes(func=func.with_changes(attr=cst.Name("log_softmax")))
        return None
    if activation.form == "module":
        assert isinstance(func, cst.Call)
        if isinstance(func.func, cst.Attribute):
            module = func.func.with_changes(attr=cst.Name("LogSoftmax"))
            return call.with_changes(func=func.with_changes(func=module))
    return None


class SoftmaxIntoNllOrLog(Rule):
    code = "TL009"
    name = "softmax-into-nll-or-log"
    summary = (
        "A softmax output fed to `nll_loss`/`NLLLoss` (which expects log-probabilities), or "
        "`log(softmax(x))` instead of `log_softmax(x)`"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    # The loss too: the softmax may be in another function or file (``self(x)``).
    needles = ("softmax", "Softmax", "nll_loss", "NLLLoss")

    def visit_Call(self, node: cst.Call) -> None:
        path = self.context.path_up()
        if loss_call(node, self.facts, NLL_FUNCTIONS, NLL_CLASSES, path) is not None:
            self._check_nll(node)
            return
        value = self._log_argument(node)
        if value is not None:
            self._check_log(node, value)

    # -- nll_loss(softmax(x)) ---------------------------------------------------------------------
    def _check_nll(self, node: cst.Call) -> None:
        arg = first_input(node)
        if arg is None:
            return
        found = reaching_activation(arg.value, SOFTMAX, self.facts, self.context.path_up())
        if found is None:
            return
        activation, reaching = found
        detail = (
            "its input is a softmax output"
            if reaching is None
            else f"`{reaching.name}` holds softmax probabilities"
        )
        fix = None
        if reaching is None:
            replacement = _log_softmax(activation)
            if replacement is not None:
                fix = FixPlan(
                    "Use `log_softmax` instead of `softmax`",
                    Applicability.UNSAFE,
                    (Replace(activation.call, replacement, self.context.block_indent()),),
                )
        self.report(
            node,
            f"NLL loss expects log-probabilities, but {detail}: it computes `-p[target]` instead "
            "of `-log p[target]`; use `log_softmax` (or `cross_entropy` on the logits)",
            fix=fix,
        )

    # -- log(softmax(x)) --------------------------------------------------------------------------
    def _log_argument(self, node: cst.Call) -> cst.BaseExpression | None:
        """``p`` in ``torch.log(p)`` / ``p.log()``."""
        qualified = self.context.qualified_name(node.func)
        if qualified is not None:
            if qualified not in LOG_FUNCTIONS:
                return None
            arg = first_input(node)
            return arg.value if arg is not None else None
        if call_attr(node) == "log" and not node.args:
            return receiver(node)
        return None

    def _check_log(self, node: cst.Call, value: cst.BaseExpression) -> None:
        found = reaching_activation(value, SOFTMAX, self.facts, self.context.path_up())
        if found is None:
            return
        activation, reaching = found
        fix = None
        simple = len(node.args) <= 1 and all(a.keyword is None for a in node.args)
        if reaching is None and simple:
            replacement = _log_softmax(activation)
            if replacement is not None:
                fix = FixPlan(
                    "Use `log_softmax`",
                    Applicability.SAFE,
                    (Replace(node, replacement, self.context.block_indent()),),
                )
        what = "a softmax output" if reaching is None else f"`{reaching.name}`, a softmax output"
        self.report(
            node,
            f"`log` of {what}: a probability that underflows to 0 gives `-inf`; "
            "`log_softmax` computes the same values stably",
            fix=fix,
        )
