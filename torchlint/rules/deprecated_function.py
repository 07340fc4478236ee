"""TL306 deprecated-function.

Table-driven: ``torchlint/data/deprecations.json`` lists each removed or deprecated torch function,
class or keyword with its replacement, the torch releases involved, and whether renaming the callee
is a drop-in fix. Extending the rule means adding an entry there; no code changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

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
from torchlint.fixes import AddImport, Change, FixPlan, Replace, add_keyword_argument

Version = tuple[int, int]


def parse_version(text: str | None) -> Version | None:
    if not text:
        return None
    parts = text.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


@dataclass(frozen=True)
class Deprecation:
    name: str
    status: str  # removed | deprecated | undeprecated
    deprecated_in: str | None
    removed_in: str | None
    undeprecated_in: str | None
    replacement: str | None
    replacement_since: str | None
    fix: str  # safe | unsafe | none
    fix_when: dict[str, Any] | None
    note: str
    is_class: bool = False

    def drop_in_for(self, call: cst.Call | None) -> bool:
        """Whether renaming the callee keeps this call's meaning (``fix_when`` limits)."""
        limits = self.fix_when
        if not limits:
            return True
        if call is None:
            return False  # a bare reference: the eventual arguments are unknown
        if any(arg.star for arg in call.args):
            return False
        positional = sum(1 for arg in call.args if arg.keyword is None)
        if "max_positional" in limits and positional > limits["max_positional"]:
            return False
        allowed = limits.get("keywords")
        if allowed is not None:
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value not in allowed:
                    return False
        return True


@dataclass(frozen=True)
class KeywordDeprecation:
    keywords: tuple[str, ...]
    callables: frozenset[str]
    deprecated_in: str | None
    replacement: str
    fix: str
    note: str


@dataclass(frozen=True)
class Table:
    symbols: dict[str, Deprecation]
    keywords: tuple[KeywordDeprecation, ...]


@lru_cache(maxsize=1)
def load_table() -> Table:
    raw = json.loads(files("torchlint").joinpath("data/deprecations.json").read_text("utf-8"))
    symbols = {}
    for entry in raw["symbols"]:
        symbols[entry["name"]] = Deprecation(
            name=entry["name"],
            status=entry["status"],
            deprecated_in=entry.get("deprecated_in"),
            removed_in=entry.get("removed_in"),
            undeprecated_in=entry.get("undeprecated_in"),
            replacement=entry.get("replacement"),
            replacement_since=entry.get("replacement_since"),
            fix=entry.get("fix", "none"),
            fix_when=entry.get("fix_when"),
            note=entry.get("note", ""),
            is_class=bool(entry.get("class", False)),
        )
    keywords = tuple(
        KeywordDeprecation(
            keywords=tuple(entry["keywords"]),
            callables=frozenset(entry["callables"]),
            deprecated_in=entry.get("deprecated_in"),
            replacement=entry["replacement"],
            fix=entry.get("fix", "none"),
            note=entry.get("note", ""),
        )
        for entry in raw.get("keywords", ())
    )
    return Table(symbols, keywords)


# Other module paths that reach the same objects.
_ALIASES = {
    "torch.nn.modules.upsampling.UpsamplingNearest2d": "torch.nn.UpsamplingNearest2d",
    "torch.nn.modules.upsampling.UpsamplingBilinear2d": "torch.nn.UpsamplingBilinear2d",
    "torch.nn.utils.weight_norm.weight_norm": "torch.nn.utils.weight_norm",
    "torch.nn.utils.clip_grad.clip_grad_norm": "torch.nn.utils.clip_grad_norm",
    "torch.cuda.memory.memory_cached": "torch.cuda.memory_cached",
    "torch.cuda.memory.max_memory_cached": "torch.cuda.max_memory_cached",
    "torch.functional.chain_matmul": "torch.chain_matmul",
    "torch.functional.norm": "torch.norm",
    "torch.functional.lu": "torch.lu",
    "torch.testing._comparison.assert_allclose": "torch.testing.assert_allclose",
    "torch.testing._deprecated.assert_allclose": "torch.testing.assert_allclose",
}
_LOSS_MODULE_PREFIX = "torch.nn.modules.loss."


def _canonical(qualified: str | None) -> str | None:
    if qualified is None:
        return None
    if qualified.startswith(_LOSS_MODULE_PREFIX):
        return "torch.nn." + qualified[len(_LOSS_MODULE_PREFIX) :]
    return _ALIASES.get(qualified, qualified)


def _literal(expr: cst.BaseExpression) -> bool | None | str:
    """True / False / None for those literals, else the string ``"?"``."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[expr.value]
    return "?"


def legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """The ``reduction=`` torch derives from the legacy pair (``torch.nn._reduction``)."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    if reduce:
        return "sum"
    return "none"


def _fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


class DeprecatedFunction(DeprecatedImportsRule):
    code = "TL306"
    name = "deprecated-function"
    summary = (
        "a removed or deprecated torch function, class or keyword from torchlint's deprecation "
        "table (`torch.solve`, `functorch.vmap`, `nn.init.normal`, `size_average=`...)"
    )
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = ("torch",)  # functorch too

    # -- which entries apply ------------------------------------------------------------------

    def _entry(self, qualified: str | None) -> Deprecation | None:
        entry = load_table().symbols.get(_canonical(qualified) or "")
        if entry is None:
            return None
        if self.context.test_code and entry.status != "removed":
            # A test that computes an expected value with ``torch.norm`` is no better for the
            # change. What a test does need to hear: removed functions (the test breaks) and the
            # deprecated test helpers themselves (``torch.testing.assert_allclose``).
            if not entry.name.startswith("torch.testing."):
                return None
        if entry.status == "undeprecated":
            until = parse_version(entry.undeprecated_in)
            version = self.context.torch_version
            if version is None or until is None or version >= until:
                return None  # warns only on releases this project does not support
        return entry

    def _describe(self, entry: Deprecation, written: str | None = None) -> str:
        shown = f"`{entry.name}`"
        if written and written != entry.name and "\n" not in written:
            shown = f"`{written}` ({shown})"
        if entry.status == "removed":
            what = f"{shown} was removed in torch {entry.removed_in}"
        elif entry.status == "undeprecated":
            what = (
                f"{shown} warns as deprecated on torch < {entry.undeprecated_in}, which this "
                "project supports"
            )
        else:
            what = f"{shown} is deprecated since torch {entry.deprecated_in}"
        if entry.replacement:
            what += f": use `{entry.replacement}`"
        if entry.note:
            what += f" ({entry.note})"
        return what

    # -- imports -------------------------------------------------------------------------------

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        deprecated = [
            (alias, local, qualified)
            for alias, local, qualified in self.imported_names(node)
            if self._entry(qualified) is not None
        ]
        if not deprecated or not self.note_import(node):
            return
        self.defer_import_report(node, deprecated)

    def report_import(self, pending: PendingImport, fix: FixPlan | None) -> None:
        parts = []
        for _, _, qualified in pending.deprecated:
            entry = self._entry(qualified)
            if entry is None:
                continue
            state = "removed" if entry.status == "removed" else "deprecated"
            use = f" (use `{entry.replacement}`)" if entry.replacement else ""
            parts.append(f"{state} `{entry.name}`{use}")
        self.report(pending.node, "import of " + ", ".join(parts), fix=fix)

    # -- uses ------------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.qualified_name(node.func)
        if qualified is None:
            return
        entry = self._entry(qualified)
        if entry is not None:
            if self.compat_bound(node.func) or in_compat_branch(self.context.path_up()):
                return
            fix, why = self._rename_fix(entry, node.func, node)
            written = self.context.code(node.func)
            self.report(node, self._describe(entry, written) + why, fix=fix)
            return
        canonical = _canonical(qualified)
        for rule in load_table().keywords:
            if canonical in rule.callables:
                self._check_keywords(node, rule, canonical)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        """A deprecated function or class referenced without a call (``partial(init.normal)``)."""
        if not is_bare_reference(self.context.stack):
            return
        if is_recognition_only(self.context.stack):
            return
        entry = self._entry(self.context.qualified_name(node))
        if entry is None or in_compat_branch(self.context.path_up()):
            return
        fix, why = (None, "") if entry.is_class else self._rename_fix(entry, node, None)
        self.report(node, self._describe(entry, self.context.code(node)) + why, fix=fix)

    # -- fixes -------------------------------------------------------------------------------------

    def _rename_fix(
        self, entry: Deprecation, func: cst.BaseExpression, call: cst.Call | None
    ) -> tuple[FixPlan | None, str]:
        if entry.fix not in ("safe", "unsafe") or entry.replacement is None:
            return None, ""
        if not entry.drop_in_for(call):
            return None, ""
        needs = parse_version(entry.replacement_since)
        version = self.context.torch_version
        if needs is not None and version is not None and version < needs:
            return None, (
                f"; not fixed: `{entry.replacement}` needs torch >= {entry.replacement_since} and "
                f"the project supports torch {_fmt(version)}"
            )
        root = (dotted_name(func) or "").split(".", 1)[0] or None
        spelled = spell(entry.replacement, self.facts.names, prefer=root)
        if spelled is None:
            return None, ""
        changes: tuple[Change, ...] = (Replace(func, spelled.code),)
        if spelled.needs_import:
            changes += (AddImport(spelled.needs_import),)
        applicability = Applicability.SAFE if entry.fix == "safe" else Applicability.UNSAFE
        return FixPlan(f"Use `{spelled.code}`", applicability, changes), ""

    def _check_keywords(self, call: cst.Call, rule: KeywordDeprecation, callee: str) -> None:
        found = [
            arg
            for arg in call.args
            if arg.keyword is not None and arg.keyword.value in rule.keywords
        ]
        if not found or self.context.test_code or in_compat_branch(self.context.path_up()):
            return
        names = " and ".join(f"`{a.keyword.value}=`" for a in found)  # type: ignore[union-attr]
        short = callee.rsplit(".", 1)[-1]
        message = (
            f"{names} on `{short}` {'are' if len(found) > 1 else 'is'} deprecated since torch "
            f"{rule.deprecated_in}: {rule.note}"
        )
        fix = None
        if rule.fix == "legacy-reduction":
            fix = self._reduction_fix(call, found)
            if fix is not None:
                message += f"; here `{fix.title.split('`')[1]}`"
        self.report(call, message, fix=fix)

    def _reduction_fix(self, call: cst.Call, legacy: list[cst.Arg]) -> FixPlan | None:
        values: dict[str, bool | None] = {}
        for arg in legacy:
            value = _literal(arg.value)
            if value == "?":
                return None
            values[arg.keyword.value] = value  # type: ignore[union-attr,assignment]
        if any(arg.star for arg in call.args):
            return None
        size_average, reduce = values.get("size_average"), values.get("reduce")
        existing = next(
            (a for a in call.args if a.keyword is not None and a.keyword.value == "reduction"),
            None,
        )
        if size_average is None and reduce is None:
            reduction = None  # both None: torch ignores them and keeps ``reduction``
        else:
            reduction = legacy_reduction(size_average, reduce)
        dropped = {id(a) for a in legacy}
        kept = [a for a in call.args if id(a) not in dropped]
        if existing is not None and reduction is not None:
            kept = [
                a.with_changes(value=cst.SimpleString(f'"{reduction}"')) if a is existing else a
                for a in kept
            ]
        new = call.with_changes(args=_recomma(kept, call.args))
        if existing is None and reduction is not None:
            new = add_keyword_argument(new, "reduction", f'"{reduction}"')
        title = f'Use `reduction="{reduction}"`' if reduction else "Drop the `None` legacy keywords"
        return FixPlan(
            title, Applicability.SAFE, (Replace(call, new, self.context.block_indent()),)
        )


def _recomma(kept: list[cst.Arg], original: Sequence[cst.Arg]) -> list[cst.Arg]:
    """``kept`` arguments with commas between them and the original call's trailing comma."""
    if not kept:
        return []
    out = []
    for index, arg in enumerate(kept):
        if index < len(kept) - 1 and not isinstance(arg.comma, cst.Comma):
            arg = arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        out.append(arg)
    out[-1] = out[-1].with_changes(comma=original[-1].comma)
    if isinstance(original[-1].comma, cst.MaybeSentinel):
        out[-1] = out[-1].with_changes(whitespace_after_arg=original[-1].whitespace_after_arg)
    return out
