"""TL017 unstable-log-exp.

``log(1 + x)`` loses every digit of a small ``x`` to rounding, ``exp(x) - 1`` cancels to zero, and
``log(sum(exp(x)))`` overflows to ``inf`` once an element passes ~88 (float32). torch has the stable
spellings: ``log1p``, ``expm1`` and ``logsumexp``.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from torchlint.analysis.dataflow import reaching_assignment
from torchlint.analysis.tensors import is_tensor_like, scope_tensor_names
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, FixPlan, Replace
from torchlint.rule import Rule

_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)
# ``expm1`` has no ONNX operator: some exporter versions reject it (pytorch/pytorch#129530), so
# code written for export may stop exporting. The value is the same; the fix is opt-in.
_EXPM1_FIX = Applicability.UNSAFE
# What goes wrong with each hand-written form, and what to use: (message, fix title).
_MESSAGES = {
    "log1p": (
        "`log(1 + x)` loses the digits of a small `x` (`1 + x` is rounded before the log: in "
        "float32 `log(1 + 1e-8)` is 0); `log1p(x)` keeps them",
        "Use `log1p(x)`",
    ),
    "expm1": (
        "`exp(x) - 1` cancels for a small `x` (in float32 `exp(1e-8) - 1` is 0); `expm1(x)` "
        "keeps its digits",
        "Use `expm1(x)`",
    ),
    "logsumexp": (
        "`log(sum(exp(x)))` overflows to `inf` once an element of `x` passes about 88 in float32 "
        "(and gives `-inf` when all are very negative); `logsumexp(x, dim)` subtracts the "
        "maximum first",
        "Use `logsumexp(x, dim)`",
    ),
    "softplus": (
        "`log(1 + exp(x))` overflows to `inf` once `x` passes about 88 in float32 (`log1p` would "
        "not help: `exp(x)` itself overflows); `torch.nn.functional.softplus(x)` is stable",
        "Use `softplus(x)`",
    ),
}


def _is_one(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Integer):
        return expr.value == "1"
    if isinstance(expr, cst.Float):
        try:
            return float(expr.value) == 1.0
        except ValueError:
            return False
    return False


def _is_number(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary))


def _one_plus(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of ``1 + x`` / ``x + 1``."""
    if not isinstance(expr, cst.BinaryOperation) or not isinstance(expr.operator, cst.Add):
        return None
    if _is_one(expr.left) and not _is_number(expr.right):
        return expr.right
    if _is_one(expr.right) and not _is_number(expr.left):
        return expr.left
    return None


def _positional(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and not a.star]


def _only_positional(call: cst.Call, count: int) -> bool:
    return len(call.args) == count and len(_positional(call)) == count


def _method(call: cst.Call, name: str) -> cst.BaseExpression | None:
    """The receiver of ``recv.name(...)``."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == name:
        return func.value
    return None


class UnstableLogExp(Rule):
    code = "TL017"
    name = "unstable-log-exp"
    summary = (
        "`log(1 + x)`, `exp(x) - 1` or `log(sum(exp(x)))` written out instead of "
        "`log1p`, `expm1` or `logsumexp`"
    )
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    # Preview (issue 13): on real code `1 + x` and `exp(x) - 1` are mostly integer counts,
    # coordinates or values added to O(1) terms, where the lost digits change nothing (2 of 10
    # corpus findings useful).
    preview = True
    fix_applicability = Applicability.SAFE
    needles = ("log", "exp")

    # -- helpers ----------------------------------------------------------------------------------
    def _is(self, func: cst.BaseExpression, qualified: str) -> bool:
        return self.context.qualified_name(func) == qualified

    def _torch_file(self) -> bool:
        return self.facts.names.imports_from("torch")

    def _code(self, node: cst.CSTNode) -> str:
        return self.context.code(node)

    def _arg_code(self, arg: cst.Arg) -> str:
        """An argument without its comma and trailing space: ``dim=1``."""
        bare = arg.with_changes(
            comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace("")
        )
        return self._code(bare).strip()

    def _receiver_code(self, expr: cst.BaseExpression) -> str:
        code = self._code(expr)
        if isinstance(expr, _ATOMIC) or expr.lpar:
            return code
        return f"({code})"

    def _function(self, func: cst.BaseExpression, name: str) -> tuple[str, tuple[AddImport, ...]]:
        """``P.name`` for a ``P.log``-style callee; ``torch.name`` (importing torch) for a bare one."""
        if isinstance(func, cst.Attribute):
            return f"{self._code(func.value)}.{name}", ()
        return f"torch.{name}", (AddImport("torch"),)

    def _exp_argument(self, expr: cst.BaseExpression) -> tuple[str, str] | None:
        """For ``torch.exp(x)`` / ``x.exp()``: (x's code, the namespace to call logsumexp on)."""
        if not isinstance(expr, cst.Call):
            return None
        argument = expr.args[0].value if expr.args else _method(expr, "exp")
        if argument is not None and self._shifted(argument):
            return None
        if self._is(expr.func, "torch.exp") and _only_positional(expr, 1):
            prefix, _ = self._function(expr.func, "logsumexp")
            return self._code(expr.args[0].value), prefix
        recv = _method(expr, "exp")
        if recv is not None and not expr.args and self._torch_file():
            return self._code(recv), ""
        return None

    def _shifted(self, expr: cst.BaseExpression) -> bool:
        """``exp(x - x_max)``: the max is already subtracted, the hand-written logsumexp is stable."""
        if isinstance(expr, cst.Name):
            found = reaching_assignment(self.context.path_up(), expr.value)
            if found is None:
                return False
            expr = found.value
        return (
            isinstance(expr, cst.BinaryOperation)
            and isinstance(expr.operator, cst.Subtract)
            and not _is_number(expr.right)  # ``exp(x - 1)`` shifts by a constant, not the max
        )

    def _reduction(self, call: cst.Call) -> tuple[str, str, list[str]] | None:
        """For ``torch.sum(exp, dim, ...)`` / ``exp.sum(dim, ...)``: (x, namespace, dim args)."""
        if self._is(call.func, "torch.sum"):
            args = list(call.args)
            if not args or args[0].keyword is not None or args[0].star:
                return None
            inner, rest = args[0].value, args[1:]
        else:
            recv = _method(call, "sum")
            if recv is None:
                return None
            inner, rest = recv, list(call.args)
        found = self._exp_argument(inner)
        if found is None or not self._dims_ok(rest):
            return None
        x, prefix = found
        dims = [self._arg_code(a) for a in rest]
        return x, prefix, dims

    @staticmethod
    def _dims_ok(rest: list[cst.Arg]) -> bool:
        """A ``dim`` is given, and nothing but ``dim``/``keepdim`` (``dtype=`` has no match)."""
        if not rest or len(rest) > 2 or any(a.star for a in rest):
            return False
        names = ["dim", "keepdim"]
        for index, arg in enumerate(rest):
            if arg.keyword is None:
                if index >= len(names):
                    return False
                continue
            if arg.keyword.value not in names[index:]:
                return False
        first = rest[0]
        if isinstance(first.value, cst.Name) and first.value.value == "None":
            return False  # ``dim=None`` sums everything; logsumexp has no such spelling
        return first.keyword is None or first.keyword.value == "dim"

    # -- visitors ---------------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if self._is(func, "torch.log"):
            args = list(node.args)
            if not args or args[0].keyword is not None or args[0].star:
                return
            value = args[0].value
            x = _one_plus(value)
            if x is not None:
                self._report_log1p(node, x)
                return
            if isinstance(value, cst.Call) and len(args) == 1:
                found = self._reduction(value)
                if found is not None:
                    prefix, extra = self._function(func, "logsumexp")
                    self._report_logsumexp(node, found, prefix, extra)
            return
        recv = _method(node, "log")
        if recv is None or node.args or not self._torch_file():
            return
        x = _one_plus(recv)
        if x is not None:
            if self._report_softplus(node, x, ()):
                return
            code = f"{self._receiver_code(x)}.log1p()"
            self._report(node, "log1p", code)
            return
        if isinstance(recv, cst.Call):
            found = self._reduction(recv)
            if found is not None:
                self._report_logsumexp(node, found, None, ())

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Subtract) or not _is_one(node.right):
            return
        left = node.left
        if not isinstance(left, cst.Call) or left.lpar:
            return
        if self._is(left.func, "torch.exp") and _only_positional(left, 1):
            prefix, extra = self._function(left.func, "expm1")
            code = f"{prefix}({self._code(left.args[0].value)})"
            self._report(node, "expm1", code, extra, _EXPM1_FIX)
            return
        recv = _method(left, "exp")
        if recv is None or left.args or not self._torch_file():
            return
        path = self.context.path_up()
        known = scope_tensor_names(path, self.facts.names)
        if not is_tensor_like(recv, self.facts.names, path=path, known=known):
            return
        self._report(node, "expm1", f"{self._receiver_code(recv)}.expm1()", (), _EXPM1_FIX)

    # -- reports ----------------------------------------------------------------------------------
    def _report_log1p(self, node: cst.Call, x: cst.BaseExpression) -> None:
        if self._report_softplus(node, x, node.args[1:]):
            return
        prefix, extra = self._function(node.func, "log1p")
        args = ", ".join([self._code(x), *[self._arg_code(a) for a in node.args[1:]]])
        self._report(node, "log1p", f"{prefix}({args})", extra)

    def _report_softplus(
        self, node: cst.Call, x: cst.BaseExpression, rest: Sequence[cst.Arg]
    ) -> bool:
        """``log(1 + exp(y))``: softplus. The fix is unsafe: ``softplus`` returns ``y`` itself
        past its threshold (20), which differs from the exact value in float64's last digits,
        and it rejects integer tensors that ``exp`` accepts."""
        if not isinstance(x, cst.Call):
            return False
        recv = _method(x, "exp")
        if self._is(x.func, "torch.exp") and _only_positional(x, 1):
            y = x.args[0].value
        elif recv is not None and not x.args and self._torch_file():
            y = recv
        else:
            return False
        code = None if rest else f"torch.nn.functional.softplus({self._code(y)})"
        self._report(node, "softplus", code, (AddImport("torch"),), Applicability.UNSAFE)
        return True

    def _report_logsumexp(
        self,
        node: cst.Call,
        found: tuple[str, str, list[str]],
        prefix: str | None,
        extra: tuple[AddImport, ...],
    ) -> None:
        x, exp_prefix, dims = found
        if prefix is None:  # the whole chain is methods: ``x.exp().sum(d).log()``
            if exp_prefix:
                code = f"{exp_prefix}({x}, {', '.join(dims)})"
            else:
                code = f"{x}.logsumexp({', '.join(dims)})"
        else:
            code = f"{prefix}({x}, {', '.join(dims)})"
        self._report(node, "logsumexp", code, extra)

    def _report(
        self,
        node: cst.BaseExpression,
        kind: str,
        code: str | None,
        extra: tuple[AddImport, ...] = (),
        applicability: Applicability = Applicability.SAFE,
    ) -> None:
        # The node's parentheses stay where they are: its position excludes them.
        message, title = _MESSAGES[kind]
        fix = None
        if code is not None:
            fix = FixPlan(title, applicability, (Replace(node, code), *extra))
        self.report(node, message, fix=fix)
