"""TL308 v2-to-tensor.

``torchvision.transforms.v2.ToTensor`` is deprecated: the v2 API splits its two jobs into
``v2.ToImage()`` (to a tensor image) and ``v2.ToDtype(torch.float32, scale=True)`` (to floats in
[0, 1]).
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.deprecated_imports import is_bare_reference
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_TARGETS = frozenset(
    {"torchvision.transforms.v2.ToTensor", "torchvision.transforms.v2._deprecated.ToTensor"}
)
_MODULES = frozenset({"torchvision.transforms.v2", "torchvision.transforms.v2._deprecated"})
_ADVICE = "use `v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])`"


class V2ToTensor(Rule):
    code = "TL308"
    name = "v2-to-tensor"
    summary = "`torchvision.transforms.v2.ToTensor`, deprecated in favour of `ToImage` + `ToDtype`"
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    needles = ("ToTensor",)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        if self.context.code(node.module) not in _MODULES:
            return
        for alias in node.names:
            if isinstance(alias.name, cst.Name) and alias.name.value == "ToTensor":
                self.report(
                    node,
                    f"import of `torchvision.transforms.v2.ToTensor`, which is deprecated: {_ADVICE}",
                )
                return

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "ToTensor":
            return
        stack = self.context.stack
        parent = stack[-2] if len(stack) >= 2 else None
        called = isinstance(parent, cst.Call) and parent.func is node
        if not called and not is_bare_reference(stack):
            return
        if self.context.qualified_name(node) in _TARGETS:
            self.report(node, f"`v2.ToTensor` is deprecated: {_ADVICE}")
