"""TL201 torch-load-without-weights-only.

``torch.load`` unpickles whatever the file holds unless ``weights_only=True``: loading a checkpoint
from the internet can run arbitrary code. Before torch 2.6 the default was False.
"""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule


def _keywords(call: cst.Call) -> set[str]:
    return {a.keyword.value for a in call.args if a.keyword is not None}


class TorchLoadWithoutWeightsOnly(Rule):
    code = "TL201"
    name = "torch-load-without-weights-only"
    summary = "`torch.load` called without `weights_only=`, which may unpickle arbitrary code"
    category = Category.SECURITY
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("load",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != "torch.load":
            return
        keywords = _keywords(node)
        if "weights_only" in keywords or any(a.star == "**" for a in node.args):
            return
        if self._under_safe_globals():
            return
        fix = None
        # ``load(f, map_location=None, pickle_module=None, *, weights_only=...)``: a third
        # positional argument is a pickle module, which ``weights_only=True`` rejects.
        positional = sum(1 for a in node.args if a.keyword is None)
        passes_pickle_module = "pickle_module" in keywords or positional >= 3
        if not passes_pickle_module:
            fix = FixPlan(
                "Add `weights_only=True`",
                Applicability.UNSAFE,
                (
                    Replace(
                        node,
                        add_keyword_argument(node, "weights_only", "True"),
                        self.context.block_indent(),
                    ),
                ),
            )
        version = self.context.torch_version
        if version is not None and version >= (2, 6):
            why = "the default is True only from torch 2.6; say so explicitly"
        else:
            why = "before torch 2.6 it unpickles arbitrary objects, which can run code"
        self.report(node, f"`torch.load` without `weights_only=`: {why}", fix=fix)

    def _under_safe_globals(self) -> bool:
        for ancestor, child in self.context.path_up():
            if isinstance(ancestor, cst.With) and child is ancestor.body:
                for item in ancestor.items:
                    value = item.item
                    if isinstance(value, cst.Call) and self.context.qualified_name(value.func) in (
                        "torch.serialization.safe_globals",
                    ):
                        return True
        return False
