"""Shared machinery of the deprecated-API rules for ``from <old module> import <old name>`` lines.

Such an import is reported once. Its call sites are reported (and fixed) on their own; once every
use of the imported names has been rewritten, a later fix pass finds the names unreferenced and the
import line gets a safe fix that deletes them. A name still used (passed as a value, named in a
string annotation...) keeps its import, and files that may re-export names (``__init__.py``, files
with ``__all__``) never lose an import.

Names bound by imports in a COMPAT BRANCH (``except ImportError:``, version tests) are remembered,
so that calls through them are not reported either.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import libcst as cst

from torchlint.analysis.compat import in_compat_branch
from torchlint.analysis.names import dotted_name
from torchlint.diagnostics import Applicability
from torchlint.fixes import FixPlan, RemoveStatement, Replace
from torchlint.rule import Rule


@dataclass
class PendingImport:
    node: cst.ImportFrom | cst.Import
    line: cst.SimpleStatementLine | None
    only_statement_in_block: bool
    deprecated: list[tuple[cst.ImportAlias, str, str]]  # alias, local name, qualified name
    extra: dict[str, object] = field(default_factory=dict)


def _alias_local(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None:
        return alias.asname.name.value if isinstance(alias.asname.name, cst.Name) else None
    return alias.name.value if isinstance(alias.name, cst.Name) else None


def _module_of(node: cst.ImportFrom) -> str | None:
    if node.relative or node.module is None:
        return None
    return dotted_name(node.module)


@dataclass
class ImportUses:
    """What one file's deprecated-API rule has seen of names and imports so far."""

    refs: Counter[str] = field(default_factory=Counter)  # name -> references
    strings: list[str] = field(default_factory=list)  # short string literals (annotations...)
    has_all: bool = False  # the file defines ``__all__``: it may re-export names
    pending: list[PendingImport] = field(default_factory=list)
    compat_names: set[str] = field(default_factory=set)  # bound in a COMPAT BRANCH


class DeprecatedImportsRule(Rule):
    """The base of a deprecated-API rule: collects name references and deprecated from-imports
    of one file (no ``code``: not itself a rule)."""

    def setup(self) -> None:
        self.import_uses = ImportUses()

    # -- what the rule calls ----------------------------------------------------------------

    def imported_names(self, node: cst.ImportFrom) -> list[tuple[cst.ImportAlias, str, str]]:
        """(alias, local name, qualified name) of each name a from-import binds."""
        module = _module_of(node)
        if module is None or isinstance(node.names, cst.ImportStar):
            return []
        out = []
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            local = _alias_local(alias)
            if local is not None:
                out.append((alias, local, f"{module}.{alias.name.value}"))
        return out

    def note_import(self, node: cst.ImportFrom) -> bool:
        """Call from ``visit_ImportFrom``; False when the import is in a COMPAT BRANCH."""
        if in_compat_branch(self.context.path_up()):
            for _, local, _ in self.imported_names(node):
                self.import_uses.compat_names.add(local)
            return False
        return True

    def compat_bound(self, func: cst.BaseExpression) -> bool:
        """Whether a called bare name was bound by an import in a COMPAT BRANCH."""
        return isinstance(func, cst.Name) and func.value in self.import_uses.compat_names

    def defer_import_report(
        self,
        node: cst.ImportFrom,
        deprecated: list[tuple[cst.ImportAlias, str, str]],
        **extra: object,
    ) -> None:
        """Report ``node`` at the end of the file, with a removal fix if its names went unused."""
        stack = self.context.stack
        line = stack[-2] if len(stack) >= 2 else None
        if not isinstance(line, cst.SimpleStatementLine):
            line = None
        block = stack[-3] if len(stack) >= 3 else None
        only = isinstance(block, cst.IndentedBlock) and len(block.body) == 1
        self.import_uses.pending.append(PendingImport(node, line, only, deprecated, extra))

    def report_import(self, pending: PendingImport, fix: FixPlan | None) -> None:
        raise NotImplementedError

    # -- visitors ----------------------------------------------------------------------------

    def visit_Name(self, node: cst.Name) -> None:
        stack = self.context.stack
        parent = stack[-2] if len(stack) >= 2 else None
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            return
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            return
        if isinstance(parent, (cst.ImportAlias, cst.AsName, cst.ImportFrom, cst.Import)):
            return
        if isinstance(parent, cst.Attribute):
            for ancestor in stack[-3::-1]:
                if isinstance(ancestor, (cst.ImportAlias, cst.ImportFrom, cst.Import)):
                    return
                if not isinstance(ancestor, cst.Attribute):
                    break
        if node.value == "__all__":
            self.import_uses.has_all = True
        self.import_uses.refs[node.value] += 1

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if len(node.value) <= 300:
            self.import_uses.strings.append(node.value)

    def leave_Module(self, node: cst.Module) -> None:
        for pending in self.import_uses.pending:
            self.report_import(pending, self._removal_fix(pending))

    # -- the removal fix ----------------------------------------------------------------------

    def _unused(self, local: str) -> bool:
        if self.import_uses.refs[local]:
            return False
        pattern = re.compile(rf"\b{re.escape(local)}\b")
        return not any(pattern.search(s) for s in self.import_uses.strings)

    def _removal_fix(self, pending: PendingImport) -> FixPlan | None:
        path = self.context.path
        if self.import_uses.has_all or path.replace("\\", "/").endswith("__init__.py"):
            return None
        if not all(self._unused(local) for _, local, _ in pending.deprecated):
            return None
        node = pending.node
        if isinstance(node.names, cst.ImportStar):
            return None
        gone = {id(alias) for alias, _, _ in pending.deprecated}
        kept = [alias for alias in node.names if id(alias) not in gone]
        names = ", ".join(local for _, local, _ in pending.deprecated)
        title = f"Remove the unused import of `{names}`"
        if not kept:
            if pending.line is None or len(pending.line.body) != 1:
                return None
            change = RemoveStatement(
                pending.line, replace_with_pass=pending.only_statement_in_block
            )
            return FixPlan(title, Applicability.SAFE, (change,))
        last_comma = node.names[-1].comma
        kept[-1] = kept[-1].with_changes(comma=last_comma)
        if len(kept) == 1 and not isinstance(getattr(node, "lpar", None), cst.LeftParen):
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return FixPlan(title, Applicability.SAFE, (Replace(node, node.with_changes(names=kept)),))


def is_bare_reference(stack: list[cst.CSTNode]) -> bool:
    """Whether the attribute on top of ``stack`` is read as a value, not called or assigned.

    False for the callee of a call (the rules report the call), the inner part of a longer chain,
    import statements, assignment and ``del`` targets (monkeypatching the name is not a use).
    """
    node = stack[-1]
    parent = stack[-2] if len(stack) >= 2 else None
    if isinstance(parent, cst.Call) and parent.func is node:
        return False
    if isinstance(parent, cst.Attribute) and parent.value is node:
        return False
    if isinstance(parent, (cst.ImportFrom, cst.ImportAlias, cst.Import, cst.AssignTarget)):
        return False
    if isinstance(parent, (cst.AnnAssign, cst.AugAssign)) and parent.target is node:
        return False
    if isinstance(parent, (cst.Del, cst.Decorator)):
        return False
    return True


# Where a reference only recognises the object: ``func is torch.cuda.amp.autocast``, a tuple of
# supported callables, a registry key (``{torch.cholesky: ...}``), ``table[torch.svd]``. Graph
# capture and dispatch code must name the deprecated object to handle it; nothing there calls it.
_RECOGNITION_PARENTS = (
    cst.Comparison,
    cst.ComparisonTarget,
    cst.Element,
    cst.StarredElement,
    cst.DictElement,
    cst.Index,
)


def is_recognition_only(stack: list[cst.CSTNode]) -> bool:
    """Whether the reference on top of ``stack`` is compared, collected or used as a lookup key."""
    parent = stack[-2] if len(stack) >= 2 else None
    return isinstance(parent, _RECOGNITION_PARENTS)
