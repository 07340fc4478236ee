"""TL301 deprecated-amp-namespace.

``torch.cuda.amp.autocast``, ``torch.cuda.amp.GradScaler``, ``torch.cuda.amp.custom_fwd`` /
``custom_bwd`` and ``torch.cpu.amp.autocast`` / ``GradScaler`` warn since torch 2.4: the
device-generic ``torch.amp`` versions take the device as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchlint.analysis.compat import in_compat_branch
from torchlint.analysis.deprecated_imports import (
    DeprecatedImportsRule,
    PendingImport,
    is_bare_reference,
    is_recognition_only,
)
from torchlint.analysis.names import dotted_name
from torchlint.analysis.spelling import spell
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, FixPlan, RemoveStatement, Replace, add_keyword_argument


@dataclass(frozen=True)
class AmpSymbol:
    old: str  # canonical deprecated name
    new: str  # its torch.amp replacement
    device: str
    kind: str  # "autocast" | "scaler" | "decorator"
    needs: tuple[int, int]  # the torch release that has the replacement


_SYMBOLS = {
    s.old: s
    for s in (
        AmpSymbol("torch.cuda.amp.autocast", "torch.amp.autocast", "cuda", "autocast", (1, 10)),
        AmpSymbol("torch.cpu.amp.autocast", "torch.amp.autocast", "cpu", "autocast", (1, 10)),
        AmpSymbol("torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "cuda", "scaler", (2, 3)),
        AmpSymbol("torch.cpu.amp.GradScaler", "torch.amp.GradScaler", "cpu", "scaler", (2, 3)),
        AmpSymbol("torch.cuda.amp.custom_fwd", "torch.amp.custom_fwd", "cuda", "decorator", (2, 4)),
        AmpSymbol("torch.cuda.amp.custom_bwd", "torch.amp.custom_bwd", "cuda", "decorator", (2, 4)),
    )
}
# The submodules that define them reach the same objects.
_ALIASES = {
    "torch.cuda.amp.autocast_mode.autocast": "torch.cuda.amp.autocast",
    "torch.cpu.amp.autocast_mode.autocast": "torch.cpu.amp.autocast",
    "torch.cuda.amp.grad_scaler.GradScaler": "torch.cuda.amp.GradScaler",
    "torch.cpu.amp.grad_scaler.GradScaler": "torch.cpu.amp.GradScaler",
    "torch.cuda.amp.autocast_mode.custom_fwd": "torch.cuda.amp.custom_fwd",
    "torch.cuda.amp.autocast_mode.custom_bwd": "torch.cuda.amp.custom_bwd",
}
# The deprecated namespaces themselves, bound to a name: ``from torch.cuda import amp``,
# ``import torch.cuda.amp as amp``. Once the calls through the name are rewritten, the import is
# unused.
_NAMESPACES = {"torch.cuda.amp": "cuda", "torch.cpu.amp": "cpu"}
# Positional parameters of the old autocast classes: ``autocast(enabled, dtype, cache_enabled)``.
_AUTOCAST_POSITIONAL = ("enabled", "dtype", "cache_enabled")


def _symbol(qualified: str | None) -> AmpSymbol | None:
    if qualified is None:
        return None
    return _SYMBOLS.get(_ALIASES.get(qualified, qualified))


def _version(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def _device_arg(device: str, call: cst.Call) -> cst.Arg:
    after: cst.BaseParenthesizableWhitespace = cst.SimpleWhitespace(" ")
    before = call.whitespace_before_args
    if isinstance(before, cst.ParenthesizedWhitespace):
        # One argument per line: the new one gets its own line (without the first line's comment).
        after = cst.ParenthesizedWhitespace(indent=before.indent, last_line=before.last_line)
    comma: cst.Comma | cst.MaybeSentinel = cst.Comma(whitespace_after=after)
    if not call.args:
        comma = cst.MaybeSentinel.DEFAULT
    return cst.Arg(value=cst.SimpleString(f'"{device}"'), comma=comma)


class DeprecatedAmpNamespace(DeprecatedImportsRule):
    code = "TL301"
    name = "deprecated-amp-namespace"
    summary = (
        "`torch.cuda.amp.*` / `torch.cpu.amp.*` autocast, GradScaler and custom_fwd/custom_bwd "
        "instead of the device-generic `torch.amp` API"
    )
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = ("amp",)

    # -- imports -------------------------------------------------------------------------------

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        deprecated = [
            (alias, local, qualified)
            for alias, local, qualified in self.imported_names(node)
            if _symbol(qualified) is not None or qualified in _NAMESPACES
        ]
        if not deprecated or not self.note_import(node):
            return
        self.defer_import_report(node, deprecated)

    def visit_Import(self, node: cst.Import) -> None:
        """``import torch.cuda.amp as amp`` (a plain ``import torch.cuda.amp`` binds ``torch``)."""
        deprecated = []
        for alias in node.names:
            if alias.asname is None:
                self._plain_import(node, alias)
                continue
            if not isinstance(alias.asname.name, cst.Name):
                continue
            qualified = dotted_name(alias.name)
            if qualified in _NAMESPACES:
                deprecated.append((alias, alias.asname.name.value, qualified))
        if not deprecated:
            return
        if in_compat_branch(self.context.path_up()):
            return
        self.defer_import_report(node, deprecated)  # type: ignore[arg-type]

    def _plain_import(self, node: cst.Import, alias: cst.ImportAlias) -> None:
        """Note ``import torch`` and ``import torch.cuda.amp`` (statement alone on its line)."""
        state = self.__dict__.setdefault("_plain_state", {"torch": False, "plain": [], "refs": 0})
        qualified = dotted_name(alias.name)
        if qualified == "torch" and self.context.enclosing(cst.FunctionDef) is None:
            state["torch"] = True
        if qualified not in _NAMESPACES or len(node.names) != 1:
            return
        if in_compat_branch(self.context.path_up()):
            return
        stack = self.context.stack
        line = stack[-2] if len(stack) >= 2 else None
        if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
            block = stack[-3] if len(stack) >= 3 else None
            only = isinstance(block, cst.IndentedBlock) and len(block.body) == 1
            state["plain"].append((node, line, only, qualified))

    def leave_Module(self, node: cst.Module) -> None:
        super().leave_Module(node)
        state = self.__dict__.get("_plain_state")
        if not state or not state["plain"]:
            return
        for statement, line, only, qualified in state["plain"]:
            # ``import torch.cuda.amp`` next to ``import torch``, with nothing left that names
            # ``torch.cuda.amp``: the line is an unused import (``torch`` stays bound).
            if state["torch"] and not state["refs"]:
                change = RemoveStatement(line, replace_with_pass=only)
                fix = FixPlan(
                    f"Remove the unused `import {qualified}`", Applicability.SAFE, (change,)
                )
                self.report(
                    statement,
                    f"unused import of the deprecated namespace `{qualified}`",
                    fix=fix,
                )

    def report_import(self, pending: PendingImport, fix: FixPlan | None) -> None:
        qualifieds = {_ALIASES.get(q, q) for _, _, q in pending.deprecated}
        spaces = sorted(q for q in qualifieds if q in _NAMESPACES)
        if spaces:
            listed = ", ".join(f"`{q}`" for q in spaces)
            self.report(
                pending.node,
                f"import of the deprecated namespace {listed}: use `torch.amp` with an explicit "
                "device",
                fix=fix,
            )
            return
        olds = sorted(qualifieds)
        news = sorted({_SYMBOLS[q].new for q in olds})
        listed = ", ".join(f"`{q}`" for q in olds)
        replacement = ", ".join(f"`{n}`" for n in news)
        self.report(
            pending.node,
            f"import of deprecated {listed}: use {replacement} with an explicit device",
            fix=fix,
        )

    # -- uses ------------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        symbol = _symbol(self.context.qualified_name(node.func))
        if symbol is None or self.compat_bound(node.func):
            return
        if in_compat_branch(self.context.path_up()):
            return
        written = self.context.code(node.func)
        old = f"`{symbol.old}`"
        if written != symbol.old and "\n" not in written:
            old = f"`{written}` ({old})"
        fix, why = self._call_fix(node, symbol)
        shown = f'`{symbol.new}("{symbol.device}", ...)`'
        if symbol.kind == "decorator":
            shown = f'`{symbol.new}(device_type="{symbol.device}", ...)`'
        message = f"{old} is deprecated since torch 2.4: use {shown}"
        self.report(node, message + why, fix=fix)

    def visit_Decorator(self, node: cst.Decorator) -> None:
        expr = node.decorator
        if isinstance(expr, cst.Call):
            return  # ``@custom_fwd(cast_inputs=...)`` is a call: visit_Call has it
        symbol = _symbol(self.context.qualified_name(expr))
        if symbol is None or self.compat_bound(expr):
            return
        if in_compat_branch(self.context.path_up()):
            return
        fix, why = None, ""
        spelled = self._spell(symbol, expr)
        if isinstance(spelled, str):
            why = spelled
        else:
            code, imports = spelled
            new = f'{code}(device_type="{symbol.device}")'
            fix = FixPlan(f"Use `{new}`", Applicability.SAFE, (Replace(expr, new), *imports))
        self.report(
            expr,
            f"`@{self.context.code(expr)}` is deprecated since torch 2.4: use "
            f'`@{symbol.new}(device_type="{symbol.device}")`{why}',
            fix=fix,
        )

    def visit_Attribute(self, node: cst.Attribute) -> None:
        """A deprecated class or function referenced without being called (``isinstance``...)."""
        if dotted_name(node) in _NAMESPACES:
            parent = self.context.stack[-2] if len(self.context.stack) >= 2 else None
            if not isinstance(parent, cst.ImportAlias):
                state = self.__dict__.setdefault(
                    "_plain_state", {"torch": False, "plain": [], "refs": 0}
                )
                state["refs"] += 1
        if not is_bare_reference(self.context.stack):
            return  # calls and decorators have their own visitors
        if is_recognition_only(self.context.stack):
            return
        symbol = _symbol(self.context.qualified_name(node))
        if symbol is None or in_compat_branch(self.context.path_up()):
            return
        self.report(
            node,
            f"`{self.context.code(node)}` is deprecated since torch 2.4: refer to `{symbol.new}` "
            "(which takes the device as its first argument)",
        )

    # -- fixes -------------------------------------------------------------------------------------

    def _spell(
        self, symbol: AmpSymbol, old: cst.BaseExpression
    ) -> tuple[str, tuple[AddImport, ...]] | str:
        """(code for the replacement, AddImport changes) or why there is no fix."""
        version = self.context.torch_version
        if version is not None and version < symbol.needs:
            return (
                f"; not fixed: `{symbol.new}` needs torch >= {_version(symbol.needs)} and the "
                f"project supports torch {_version(version)}"
            )
        root = (dotted_name(old) or "").split(".", 1)[0] or None
        spelled = spell(symbol.new, self.facts.names, prefer=root)
        if spelled is None:
            return "; not fixed: the name `torch` is bound to something else in this file"
        imports = (AddImport(spelled.needs_import),) if spelled.needs_import else ()
        return spelled.code, imports

    def _call_fix(self, call: cst.Call, symbol: AmpSymbol) -> tuple[FixPlan | None, str]:
        if any(arg.star for arg in call.args):
            return None, ""  # ``*args`` / ``**kwargs``: positions unknown
        spelled = self._spell(symbol, call.func)
        if isinstance(spelled, str):
            return None, spelled
        code, imports = spelled
        func = cst.parse_expression(code)
        if symbol.kind == "decorator":
            if any(a.keyword is not None and a.keyword.value == "device_type" for a in call.args):
                return None, ""
            new = add_keyword_argument(call, "device_type", f'"{symbol.device}"')
            new = new.with_changes(func=func)
        else:
            args = list(call.args)
            if symbol.kind == "autocast":
                positional = [a for a in args if a.keyword is None]
                if len(positional) > len(_AUTOCAST_POSITIONAL):
                    return None, ""
                # ``torch.amp.autocast(device_type, dtype, enabled, ...)``: different order.
                for index, arg in enumerate(positional):
                    keyword = cst.Name(_AUTOCAST_POSITIONAL[index])
                    equal = cst.AssignEqual(
                        whitespace_before=cst.SimpleWhitespace(""),
                        whitespace_after=cst.SimpleWhitespace(""),
                    )
                    args[args.index(arg)] = arg.with_changes(keyword=keyword, equal=equal)
            new = call.with_changes(func=func, args=[_device_arg(symbol.device, call), *args])
        shown = f'{code}("{symbol.device}", ...)'
        if symbol.kind == "decorator":
            shown = f'{code}(..., device_type="{symbol.device}")'
        plan = FixPlan(
            f"Use `{shown}`",
            Applicability.SAFE,
            (Replace(call, new, self.context.block_indent()), *imports),
        )
        return plan, ""
