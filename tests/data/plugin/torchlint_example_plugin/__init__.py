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


class CrashesOnMarker(Rule):
    """A deliberately broken rule: raises on the name CRASH_HERE (tests the crash guard)."""

    code = "XPL002"
    name = "example-crashes"
    summary = "crashes on purpose"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    needles = ("CRASH_HERE",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "CRASH_HERE":
            raise ZeroDivisionError("this rule is broken on purpose")
