"""A tiny third-party rule package, registered through the `torchlint.rules` entry point."""

import libcst as cst

from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule


class NoPrintInModel(Rule):
    """Reports `print(...)` calls (an example plug-in rule)."""

    code = "XPL001"
    name = "example-no-print"
    summary = "`print` call"
    category = Category.PERFORMANCE
    severity = Severity.INFO
    precision = Precision.HIGH
    needles = ("print",)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "print":
            self.report(node, "`print` in library code; use logging")
