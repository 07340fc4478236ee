"""Run the enabled rules over one parsed file in a single traversal, and apply suppressions.

Each rule declares ``visit_<Node>``/``leave_<Node>`` methods; :class:`RuleDispatcher` calls them
all from one walk of the tree, keeping the ancestor stack rules read through their context.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

from torchlint.analysis.walk import walk
from torchlint.context import FileContext
from torchlint.diagnostics import Diagnostic, InternalError
from torchlint.registry import all_rule_refs
from torchlint.rule import Report, Rule
from torchlint.rules.unused_noqa import CODE as UNUSED_NOQA
from torchlint.rules.unused_noqa import unused_suppressions
from torchlint.suppression import parse_suppressions

Handler = Callable[[cst.CSTNode], Any]


def rules_for_source(source: str, rules: Sequence[type[Rule]]) -> list[type[Rule]]:
    """The rules that can possibly report on ``source`` (the cheap text check before parsing)."""
    return [r for r in rules if not r.needles or any(n in source for n in r.needles)]


class RuleDispatcher:
    """One traversal that feeds every rule's visit_/leave_ methods and keeps the ancestor stack."""

    def __init__(self, context: FileContext, rules: list[Rule], errors: list[InternalError]):
        self.stack = context.stack
        self.path = context.path
        self.errors = errors
        self.visit_map: dict[str, list[tuple[Rule, Handler]]] = {}
        self.leave_map: dict[str, list[tuple[Rule, Handler]]] = {}
        self.dead: set[int] = set()
        for rule in rules:
            for kind, node_type, method in rule.bound_visitors():
                target = self.visit_map if kind == "visit" else self.leave_map
                target.setdefault(node_type, []).append((rule, method))

    def run(self, module: cst.Module) -> None:
        walk(module, self.on_visit, self.on_leave)

    def _call(self, rule: Rule, method: Handler, node: cst.CSTNode) -> None:
        if id(rule) in self.dead:
            return
        try:
            method(node)
        except RecursionError:
            self._fail(rule, "recursion too deep")
        except Exception as exc:
            self._fail(rule, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}")

    def _fail(self, rule: Rule, message: str) -> None:
        # One broken rule stops on this file only; every other rule keeps going.
        self.dead.add(id(rule))
        self.errors.append(InternalError(self.path, rule.code, message))

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        handlers = self.visit_map.get(type(node).__name__)
        if handlers:
            for rule, method in handlers:
                self._call(rule, method, node)
        return True

    def on_leave(self, node: cst.CSTNode) -> None:
        handlers = self.leave_map.get(type(node).__name__)
        if handlers:
            for rule, method in handlers:
                self._call(rule, method, node)
        self.stack.pop()


def run_rules(
    context: FileContext, rules: Sequence[type[Rule]], errors: list[InternalError]
) -> list[Report]:
    """Every report the ``rules`` make on ``context``'s file; a failing rule goes to ``errors``.

    Raises RecursionError when the tree is too deep to walk."""
    reports: list[Report] = []
    instances = [rule(context, reports) for rule in rules]
    RuleDispatcher(context, instances, errors).run(context.module)
    return reports


def judges_suppressions(rules: Sequence[type[Rule]]) -> bool:
    """Whether TL900 (unused-noqa) is enabled: it judges suppressions against every finding
    made before they apply."""
    return any(rule.code == UNUSED_NOQA for rule in rules)


def without_suppressed(diagnostics: list[Diagnostic], source: str) -> list[Diagnostic]:
    """``diagnostics`` less those a ``# noqa`` / ``# torchlint: ignore`` comment silences."""
    suppressions = parse_suppressions(source)
    return [d for d in diagnostics if not suppressions.silences(d.start.line, d.code, d.name)]


def judged_suppressions(
    diagnostics: list[Diagnostic],
    source: str,
    path: str,
    rules: Sequence[type[Rule]],
    test_code: bool,
) -> list[Diagnostic]:
    """Apply the suppressions and add TL900's findings (torchlint/rules/unused_noqa.py), sorted."""
    enabled = [(r.code, r.name) for r in rules if r.report_in_tests or not test_code]
    known = [(r.code, r.name) for r in all_rule_refs()]
    unused = unused_suppressions(source, path, diagnostics, enabled, known)
    kept = without_suppressed([*diagnostics, *unused], source)
    return sorted(kept, key=lambda d: d.sort_key)
