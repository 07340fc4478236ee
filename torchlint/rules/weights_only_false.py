"""TL203 weights-only-false.

``torch.load(path, weights_only=False)`` unpickles arbitrary objects, so loading a crafted file runs
its code. That is a deliberate choice for a checkpoint shipped with the program; for a path that
arrives at run time (a command-line argument, a download, a user upload) it is worth an audit.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.bindings import scope_bindings
from torchlint.analysis.data import keyword_arg
from torchlint.analysis.devices import string_value
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_PATH_BUILDERS = frozenset(
    {
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
        "os.path.join",
        "os.path.dirname",
        "os.path.abspath",
        "os.path.realpath",
        "os.path.expanduser",
        "os.path.normpath",
    }
)
_PATH_METHODS = frozenset(
    {"parent", "joinpath", "with_suffix", "with_name", "resolve", "absolute", "expanduser"}
)
_MAX_DEPTH = 4


class WeightsOnlyFalse(Rule):
    code = "TL203"
    name = "weights-only-false"
    summary = "`torch.load(..., weights_only=False)` on a path computed at run time"
    category = Category.SECURITY
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    preview = True
    needles = ("weights_only",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != "torch.load":
            return
        flag = keyword_arg(node, "weights_only")
        if flag is None or not (isinstance(flag.value, cst.Name) and flag.value.value == "False"):
            return
        path = keyword_arg(node, "f")
        if path is None and node.args and node.args[0].keyword is None and not node.args[0].star:
            path = node.args[0]
        if path is None or self._fixed_path(path.value, 0):
            return
        self.report(
            node,
            "`torch.load(..., weights_only=False)` on a path computed at run time: if the file can "
            "come from a user, a download or shared storage, loading it can execute arbitrary "
            "code; load with `weights_only=True` (allow custom classes with "
            "`torch.serialization.add_safe_globals`) or make sure the file is trusted",
        )

    def _fixed_path(self, expr: cst.BaseExpression, depth: int) -> bool:
        """A path written in the program: literals, ``__file__`` and path operations on them."""
        if depth > _MAX_DEPTH:
            return False

        def again(sub: cst.BaseExpression) -> bool:
            return self._fixed_path(sub, depth + 1)

        if string_value(expr) is not None:
            return True
        if isinstance(expr, cst.FormattedString):
            return all(
                isinstance(p, cst.FormattedStringText)
                or (isinstance(p, cst.FormattedStringExpression) and again(p.expression))
                for p in expr.parts
            )
        if isinstance(expr, cst.Name):
            if expr.value == "__file__":
                return True
            return self._constant(expr.value, depth)
        if isinstance(expr, cst.BinaryOperation):
            return again(expr.left) and again(expr.right)
        if isinstance(expr, cst.Attribute):
            return expr.attr.value in _PATH_METHODS and again(expr.value)
        if isinstance(expr, cst.Call):
            qualified = self.context.qualified_name(expr.func)
            if qualified is None and isinstance(expr.func, cst.Attribute):
                if expr.func.attr.value not in _PATH_METHODS or not again(expr.func.value):
                    return False
            elif qualified not in _PATH_BUILDERS:
                return False
            return all(not a.star and again(a.value) for a in expr.args)
        return False

    def _constant(self, name: str, depth: int) -> bool:
        """A module-level name only ever bound to a fixed path (``CKPT = "model.pt"``)."""
        function = self.context.enclosing(cst.FunctionDef)
        if function is not None and scope_bindings(function, name):
            values = scope_bindings(function, name)
        else:
            values = scope_bindings(self.context.module, name)
        return bool(values) and all(
            v is not None and self._fixed_path(v, depth + 1) for v in values
        )
