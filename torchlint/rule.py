"""The rule base class: metadata as class attributes, a LibCST visitor body, and ``report``.

A rule never parses, reads configuration or formats output. It declares what it is, which text a
file must contain for it to matter (``needles``), and visits nodes::

    class MyRule(Rule):
        code = "TL999"
        name = "my-rule"
        ...
        needles = ("load",)

        def setup(self) -> None:  # optional: the rule's per-file state, as plain attributes
            self.loads: list[cst.Call] = []

        def visit_Call(self, node: cst.Call) -> None:
            if self.context.qualified_name(node.func) == "torch.load":
                self.report(node, "...")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from torchlint.diagnostics import Applicability, Category, Precision, Severity

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts
    from torchlint.context import FileContext
    from torchlint.fixes import FixPlan

_VISITOR = re.compile(r"^(visit|leave)_([A-Z]\w*)$")


@dataclass
class Report:
    """A finding as a rule makes it: on a node, with an optional fix plan."""

    rule: type[Rule]
    node: cst.CSTNode
    message: str
    fix: FixPlan | None
    suggestion: str | None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]  # one sentence: what it reports
    category: ClassVar[Category]
    severity: ClassVar[Severity]
    precision: ClassVar[Precision]
    preview: ClassVar[bool] = False
    # False: not run on test code (the ``test-code`` setting), where the rule's advice does not
    # apply: tests pickle models, call deprecated APIs and build tiny tensors on purpose.
    report_in_tests: ClassVar[bool] = True
    fix_applicability: ClassVar[Applicability | None] = None  # the fix it offers, if any
    needles: ClassVar[tuple[str, ...]] = ()  # a file containing none of these is skipped
    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, context: FileContext, reports: list[Report]) -> None:
        self.context = context
        self._reports = reports
        self.options = {**self.default_options, **context.rule_options.get(self.name, {})}
        self.setup()

    def setup(self) -> None:
        """Called once per file, after construction: set the rule's per-file state here, as plain
        attributes (a rule never overrides ``__init__``). A rule whose base class defines a setup
        calls ``super().setup()``."""

    @property
    def facts(self) -> TorchFacts:
        """The file's torch facts (imports, module classes, loops...), computed once per file."""
        return self.context.facts

    def report(
        self,
        node: cst.CSTNode,
        message: str,
        *,
        fix: FixPlan | None = None,
        suggestion: str | None = None,
    ) -> None:
        self._reports.append(Report(type(self), node, message, fix, suggestion))

    @classmethod
    def visitor_methods(cls) -> list[tuple[str, str]]:
        """(``visit``|``leave``, node type name) for every visitor method the rule defines."""
        out: list[tuple[str, str]] = []
        for attr in dir(cls):
            match = _VISITOR.match(attr)
            if match:
                out.append((match.group(1), match.group(2)))
        return out

    def bound_visitors(self) -> list[tuple[str, str, Callable[[cst.CSTNode], Any]]]:
        return [
            (kind, node, getattr(self, f"{kind}_{node}")) for kind, node in self.visitor_methods()
        ]
