"""TL302 checkpoint-without-use-reentrant.

``torch.utils.checkpoint.checkpoint`` and ``checkpoint_sequential`` warn when ``use_reentrant`` is
not passed: the implicit default (the reentrant implementation) is slated to change to the
non-reentrant one, and a later torch will require the argument.
"""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule

# The function and the first torch release whose signature has ``use_reentrant``.
_CHECKPOINTS = {
    "torch.utils.checkpoint.checkpoint": (1, 11),
    "torch.utils.checkpoint.checkpoint_sequential": (2, 0),
}


class CheckpointWithoutUseReentrant(Rule):
    code = "TL302"
    name = "checkpoint-without-use-reentrant"
    summary = "`torch.utils.checkpoint.checkpoint[_sequential]` called without `use_reentrant=`"
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("checkpoint",)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.qualified_name(node.func)
        needs = _CHECKPOINTS.get(qualified or "")
        if needs is None:
            return
        for arg in node.args:
            if arg.star == "**":
                return  # ``use_reentrant`` may be among the forwarded keywords
            if arg.keyword is not None and arg.keyword.value == "use_reentrant":
                return
        short = qualified.rsplit(".", 1)[-1]  # type: ignore[union-attr]
        message = (
            f"`{short}` without `use_reentrant=`: the implicit reentrant default warns and is "
            "being changed; pass `use_reentrant=False` (recommended) or `True` explicitly"
        )
        version = self.context.torch_version
        fix = None
        if version is not None and version < needs:
            message += (
                f"; not fixed: `use_reentrant` needs torch >= {needs[0]}.{needs[1]} and the "
                f"project supports torch {version[0]}.{version[1]}"
            )
        else:
            fix = FixPlan(
                "Add `use_reentrant=False`",
                Applicability.UNSAFE,
                (
                    Replace(
                        node,
                        add_keyword_argument(node, "use_reentrant", "False"),
                        self.context.block_indent(),
                    ),
                ),
            )
        self.report(node, message, fix=fix)
