"""TL307 private-collate.

``default_collate`` and ``default_convert`` are public in ``torch.utils.data`` since torch 1.11;
reaching them through the private ``torch.utils.data._utils.collate`` module ties code to a layout
torch may change without notice.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.deprecated_imports import is_bare_reference
from torchlint.analysis.names import dotted_name
from torchlint.analysis.spelling import spell
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, Change, FixPlan, Replace
from torchlint.rule import Rule

_PRIVATE_MODULE = "torch.utils.data._utils.collate"
_PUBLIC = {
    f"{_PRIVATE_MODULE}.default_collate": "torch.utils.data.default_collate",
    f"{_PRIVATE_MODULE}.default_convert": "torch.utils.data.default_convert",
}
_PUBLIC_SINCE = (1, 11)


class PrivateCollate(Rule):
    code = "TL307"
    name = "private-collate"
    summary = (
        "`default_collate` / `default_convert` reached through the private "
        "`torch.utils.data._utils.collate` module"
    )
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = ("_utils",)

    def _in_owner(self) -> bool:
        """Inside ``torch/utils/data/`` itself, the package that owns the private module."""
        parts = self.context.path.replace("\\", "/").split("/")
        return any(parts[i : i + 3] == ["torch", "utils", "data"] for i in range(len(parts) - 2))

    def _withheld(self) -> str | None:
        version = self.context.torch_version
        if version is not None and version < _PUBLIC_SINCE:
            return (
                "; not fixed: the public names need torch >= 1.11 and the project supports "
                f"torch {version[0]}.{version[1]}"
            )
        return None

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if self._in_owner():
            return
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        if self.context.code(node.module) != _PRIVATE_MODULE:
            return
        private = [
            alias
            for alias in node.names
            if isinstance(alias.name, cst.Name)
            and f"{_PRIVATE_MODULE}.{alias.name.value}" in _PUBLIC
        ]
        if not private:
            return
        names = ", ".join(f"`{a.name.value}`" for a in private)
        message = f"import of {names} from the private `{_PRIVATE_MODULE}`: import from `torch.utils.data`"
        fix = None
        why = self._withheld()
        if why:
            message += why
        elif len(private) == len(node.names):
            # The same function objects under their public module: the bound names do not change.
            new = node.with_changes(module=cst.parse_expression("torch.utils.data"))
            fix = FixPlan(
                "Import from `torch.utils.data`", Applicability.SAFE, (Replace(node, new),)
            )
        self.report(node, message, fix=fix)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        """``torch.utils.data._utils.collate.default_collate`` (called or passed as collate_fn)."""
        if node.attr.value not in ("default_collate", "default_convert") or self._in_owner():
            return
        stack = self.context.stack
        parent = stack[-2] if len(stack) >= 2 else None
        called = isinstance(parent, cst.Call) and parent.func is node
        if not called and not is_bare_reference(stack):
            return
        qualified = self.context.qualified_name(node)
        public = _PUBLIC.get(qualified or "")
        if public is None:
            return
        message = (
            f"`{node.attr.value}` through the private `{_PRIVATE_MODULE}` module: use `{public}`"
        )
        fix = None
        why = self._withheld()
        if why:
            message += why
        else:
            root = (dotted_name(node) or "").split(".", 1)[0] or None
            spelled = spell(public, self.facts.names, module="torch.utils.data", prefer=root)
            if spelled is not None:
                changes: tuple[Change, ...] = (Replace(node, spelled.code),)
                if spelled.needs_import:
                    changes += (AddImport(spelled.needs_import),)
                fix = FixPlan(f"Use `{spelled.code}`", Applicability.SAFE, changes)
        self.report(node, message, fix=fix)
