"""TL309 torchvision-module-alias.

``import torchvision.models as models`` spells ``from torchvision import models`` the long way.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule


def _aliased_submodule(alias: cst.ImportAlias) -> tuple[str, str] | None:
    """(package, submodule) for ``torchvision[.x].y as y``."""
    if alias.asname is None or not isinstance(alias.asname.name, cst.Name):
        return None
    full = dotted_name(alias.name)
    if full is None or not full.startswith("torchvision.") or "." not in full:
        return None
    package, _, last = full.rpartition(".")
    if alias.asname.name.value != last:
        return None
    return package, last


class TorchvisionModuleAlias(Rule):
    code = "TL309"
    name = "torchvision-module-alias"
    summary = "`import torchvision.models as models` instead of `from torchvision import models`"
    category = Category.DEPRECATED_API
    severity = Severity.INFO
    precision = Precision.HEURISTIC
    # A style preference, not a deprecation: nothing about `import a.b as b` is deprecated
    # (issue 13: 0 of 12 findings useful on real code).
    preview = True
    fix_applicability = Applicability.SAFE
    needles = ("torchvision.",)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            found = _aliased_submodule(alias)
            if found is None:
                continue
            package, last = found
            preferred = f"from {package} import {last}"
            fix = None
            if len(node.names) == 1:
                fix = FixPlan(f"Use `{preferred}`", Applicability.SAFE, (Replace(node, preferred),))
            self.report(
                node,
                f"`import {package}.{last} as {last}` is a roundabout `{preferred}`: "
                "the alias repeats the submodule's own name",
                fix=fix,
            )
            return
