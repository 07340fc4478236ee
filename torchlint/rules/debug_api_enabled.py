"""TL108 debug-api-enabled.

Anomaly detection records a traceback for every autograd node and checks every backward result
for NaN; ``gradcheck`` runs the function many times in double precision. Both are debugging tools
that slow training down many times over when they are left switched on.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.analysis.pytest_style import in_test
from torchlint.analysis.walk import walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, RemoveStatement, Replace
from torchlint.rule import Rule

_SET_ANOMALY = frozenset(
    {"torch.autograd.set_detect_anomaly", "torch.autograd.anomaly_mode.set_detect_anomaly"}
)
_DETECT_ANOMALY = frozenset(
    {"torch.autograd.detect_anomaly", "torch.autograd.anomaly_mode.detect_anomaly"}
)
_GRADCHECK = frozenset(
    {
        "torch.autograd.gradcheck",
        "torch.autograd.gradgradcheck",
        "torch.autograd.gradcheck.gradcheck",
        "torch.autograd.gradcheck.gradgradcheck",
    }
)
_DEBUG_WORD = re.compile(r"debug|anomal", re.IGNORECASE)
# Functions and classes that are themselves debugging or checking tools.
_TOOL_NAME = re.compile(
    r"debug|anomal|(^|_)(check|checks|verify|validate|diagnose|diagnostics|sanity)(_|$)",
    re.IGNORECASE,
)


def _mentions_debug(test: cst.BaseExpression) -> bool:
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, cst.Name) and (
            node.value == "__debug__" or _DEBUG_WORD.search(node.value)
        ):
            found = True
        elif isinstance(node, cst.Attribute) and _DEBUG_WORD.search(node.attr.value):
            found = True
        elif isinstance(node, cst.SimpleString) and _DEBUG_WORD.search(node.value):
            found = True
        return not found

    walk(test, visit)
    return found


def _is_main_guard(test: cst.BaseExpression) -> bool:
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    sides = [test.left, test.comparisons[0].comparator]
    return any(isinstance(s, cst.Name) and s.value == "__name__" for s in sides) and any(
        isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__" for s in sides
    )


def _no_nan_check(call: cst.Call) -> bool:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "check_nan":
            return isinstance(arg.value, cst.Name) and arg.value.value == "False"
    return False


def _literal_true(call: cst.Call) -> bool:
    for index, arg in enumerate(call.args):
        if (arg.keyword is None and index == 0) or (
            arg.keyword is not None and arg.keyword.value == "mode"
        ):
            return isinstance(arg.value, cst.Name) and arg.value.value == "True"
    return False


class DebugApiEnabled(Rule):
    code = "TL108"
    name = "debug-api-enabled"
    summary = "Anomaly detection or `gradcheck` left enabled outside tests slows training down"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("anomaly", "gradcheck")

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.qualified_name(node.func)
        if qualified is None:
            return
        if qualified in _SET_ANOMALY:
            if not _literal_true(node):
                return
            kind = "anomaly"
        elif qualified in _DETECT_ANOMALY:
            kind = "anomaly"
        elif qualified in _GRADCHECK:
            kind = "gradcheck"
        else:
            return
        if in_test(self.context) or self._excused(kind):
            return
        if kind == "anomaly" and _no_nan_check(node):
            return  # anomaly mode kept only for its stack traces, as tracing tools do
        if kind == "gradcheck":
            short = qualified.rsplit(".", 1)[-1]
            self.report(
                node,
                f"`{short}` outside tests runs the function many times in double precision to "
                "compare gradients numerically: keep it in the test suite",
            )
            return
        self.report(
            node,
            "autograd anomaly detection is switched on: it records a stack trace for every "
            "autograd node and checks every backward result, which slows training down many times "
            "over; enable it only while debugging",
            fix=self._fix(node, qualified),
        )

    def _excused(self, kind: str) -> bool:
        """In a debugging tool's function or class, or under a debug switch (or a ``__main__``
        self-test for gradcheck)."""
        for ancestor, child in self.context.path_up():
            if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef)) and _TOOL_NAME.search(
                ancestor.name.value
            ):
                return True
            if isinstance(ancestor, (cst.If, cst.IfExp)) and child is ancestor.body:
                if _mentions_debug(ancestor.test):
                    return True
                if kind == "gradcheck" and _is_main_guard(ancestor.test):
                    return True
        return False

    def _fix(self, node: cst.Call, qualified: str) -> FixPlan | None:
        stack = self.context.stack
        parent = stack[-2] if len(stack) >= 2 else None
        if qualified in _SET_ANOMALY:
            line = stack[-3] if len(stack) >= 3 else None
            if (
                isinstance(parent, cst.Expr)
                and isinstance(line, cst.SimpleStatementLine)
                and len(line.body) == 1
            ):
                block = stack[-4] if len(stack) >= 4 else None
                only = isinstance(block, cst.IndentedBlock) and len(block.body) == 1
                return FixPlan(
                    "Remove the `set_detect_anomaly(True)` call",
                    Applicability.UNSAFE,
                    (RemoveStatement(line, only),),
                )
            if isinstance(parent, cst.WithItem):
                value = next(
                    a.value
                    for i, a in enumerate(node.args)
                    if (a.keyword is None and i == 0) or (a.keyword and a.keyword.value == "mode")
                )
                return FixPlan(
                    "Switch anomaly detection off", Applicability.UNSAFE, (Replace(value, "False"),)
                )
            return None
        func = node.func
        if (
            isinstance(parent, cst.WithItem)
            and isinstance(func, cst.Attribute)
            and self.context.qualified_name(func.value)
            in ("torch.autograd", "torch.autograd.anomaly_mode")
            and dotted_name(func.value) is not None
        ):
            prefix = self.context.code(func.value)
            return FixPlan(
                "Switch anomaly detection off",
                Applicability.UNSAFE,
                (Replace(node, f"{prefix}.set_detect_anomaly(False)"),),
            )
        return None
