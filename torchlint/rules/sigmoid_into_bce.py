"""TL008 sigmoid-into-bce.

``sigmoid`` followed by ``binary_cross_entropy`` computes ``log(sigmoid(z))`` in two steps. Once
``|z|`` passes about 17 in float32 the sigmoid rounds to exactly 0 or 1, BCE clamps ``log(0)`` to
-100, and the gradient of a confidently wrong prediction becomes 0: those examples stop teaching
the model. ``binary_cross_entropy_with_logits`` / ``nn.BCEWithLogitsLoss`` fuse the two with the
log-sum-exp trick and stay exact; they are also the only form allowed under autocast.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.activations import SIGMOID, ActivationCall, first_input, reaching_activation
from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import Reaching, count_name, enclosing_scope
from torchlint.analysis.losses import LossCall, loss_call
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

BCE_FUNCTIONS = frozenset({"torch.nn.functional.binary_cross_entropy"})
BCE_CLASSES = frozenset({"torch.nn.BCELoss"})


class _Finding:
    def __init__(self, loss: LossCall, changes: tuple[Replace, ...] | None, message: str) -> None:
        self.loss = loss
        self.changes = changes  # the input's part of the fix; None when the input cannot be fixed
        self.message = message


class SigmoidIntoBCE(Rule):
    code = "TL008"
    name = "sigmoid-into-bce"
    summary = (
        "`binary_cross_entropy` / `nn.BCELoss` fed a sigmoid output instead of using the "
        "numerically stable `BCEWithLogits` on the logits"
    )
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    # The loss too: the sigmoid may be in another function or file (``self(x)``).
    needles = ("sigmoid", "Sigmoid", "expit", "binary_cross_entropy", "BCELoss")

    def setup(self) -> None:
        self._findings: list[_Finding] = []
        self._calls_of: dict[str, int] = {}

    def visit_Call(self, node: cst.Call) -> None:
        key = binding_key(node.func)
        if key is not None:
            self._calls_of[key] = self._calls_of.get(key, 0) + 1
        path = self.context.path_up()
        loss = loss_call(node, self.facts, BCE_FUNCTIONS, BCE_CLASSES, path)
        if loss is None:
            return
        arg = first_input(node)
        if arg is None:
            return
        found = reaching_activation(arg.value, SIGMOID, self.facts, path)
        if found is None:
            return
        activation, reaching = found
        detail = (
            "its input is a sigmoid output"
            if reaching is None
            else f"`{reaching.name}` holds a sigmoid output"
        )
        message = (
            f"Binary cross-entropy on probabilities: {detail}. Pass the logits to "
            "`binary_cross_entropy_with_logits` / `nn.BCEWithLogitsLoss`, which stays exact where "
            "a saturated sigmoid makes the gradient vanish"
        )
        changes = self._input_changes(arg.value, activation, reaching, path)
        self._findings.append(_Finding(loss, changes, message))

    def leave_Module(self, original_node: cst.Module) -> None:
        for finding in self._findings:
            fix = None
            if finding.changes is not None:
                loss_change = self._loss_change(finding.loss)
                if loss_change is not None:
                    fix = FixPlan(
                        "Use BCE with logits on the sigmoid's input",
                        Applicability.UNSAFE,
                        (loss_change, *finding.changes),
                    )
            self.report(finding.loss.call, finding.message, fix=fix)

    # -- the fix ----------------------------------------------------------------------------------
    def _input_changes(
        self,
        value: cst.BaseExpression,
        activation: ActivationCall,
        reaching: Reaching | None,
        path: list[tuple[cst.CSTNode, cst.CSTNode]],
    ) -> tuple[Replace, ...] | None:
        argument = activation.argument
        if argument is None:
            return None
        if reaching is None:
            return (Replace(value, argument, self.context.block_indent()),)
        # ``probs = torch.sigmoid(logits)`` used only here: pass ``logits``.
        if not isinstance(argument, cst.Name) or argument.value == reaching.name:
            return None
        if reaching.rebinds(argument.value):
            return None
        scope = enclosing_scope(path)
        if scope is None or count_name(scope, reaching.name) != 2:
            return None
        return (Replace(value, cst.Name(argument.value)),)

    def _loss_change(self, loss: LossCall) -> Replace | None:
        """Turn the loss itself into its with-logits form."""
        func = loss.call.func
        if loss.form == "function":
            if isinstance(func, cst.Attribute):
                return Replace(func.attr, "binary_cross_entropy_with_logits")
            return None
        if loss.form == "inline":
            assert isinstance(func, cst.Call)
            if isinstance(func.func, cst.Attribute):
                return Replace(func.func.attr, "BCEWithLogitsLoss")
            return None
        # A loss object: change its constructor, when this is its only binding and only call.
        key = loss.key
        if key is None or "." in key or self._calls_of.get(key, 0) != 1:
            return None
        if self.facts.name_counts[key] != 2:
            return None  # passed around or used elsewhere: other calls may feed it probabilities
        values = self.facts.bindings.values.get(key, ())
        if len(values) != 1 or not isinstance(values[0], cst.Call):
            return None
        ctor = values[0].func
        if not isinstance(ctor, cst.Attribute):
            return None
        return Replace(ctor.attr, "BCEWithLogitsLoss")
