"""Lint one source text: screen and parse it once, share its facts, run every enabled rule in one
traversal, locate the findings, apply suppressions. Never raises for bad input or a broken rule.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchlint.analysis.facts import TorchFacts
from torchlint.context import FileContext
from torchlint.diagnostics import Diagnostic, InternalError, LintOutcome, syntax_error
from torchlint.dispatch import (
    judged_suppressions,
    judges_suppressions,
    rules_for_source,
    run_rules,
    without_suppressed,
)
from torchlint.incremental import IncrementalParser
from torchlint.locate import deep_recursion, to_diagnostics
from torchlint.parsing import parse, screen
from torchlint.profiling import phase
from torchlint.registry import RuleRef, load_rules
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.project_index import ProjectIndex


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A syntax tree is hundreds of thousands of acyclic objects: the cyclic collector would
    rescan them again and again while they are built (measured: a third of the run time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def lint_source(
    source: str,
    path: str,
    rules: Sequence[type[Rule] | RuleRef],
    *,
    torch_version: tuple[int, int] | None = None,
    rule_options: dict[str, dict[str, Any]] | None = None,
    test_code: bool = False,
    apply_suppressions: bool = True,
    reuse: IncrementalParser | None = None,
    project: ProjectIndex | None = None,
) -> LintOutcome:
    """Lint one source text with the given rules (classes, or records such as
    ``Settings.rules``); never raises for bad input or a broken rule.

    ``project`` is the project index (:mod:`torchlint.project_index`): with it, rules see the
    classes and functions ``path`` imports from the project's other files.

    ``reuse`` is the parse state of earlier versions of the same document (the editor's case):
    unchanged top-level statements are then neither parsed nor located again.
    """
    loaded = load_rules(rules)
    judge = apply_suppressions and judges_suppressions(loaded)
    with _no_cyclic_gc():
        outcome = _lint_source(
            source,
            path,
            loaded,
            torch_version=torch_version,
            rule_options=rule_options,
            test_code=test_code,
            apply_suppressions=apply_suppressions and not judge,
            reuse=reuse,
            project=project,
        )
    if judge and outcome.parsed:
        outcome.diagnostics = judged_suppressions(
            outcome.diagnostics, source, path, loaded, test_code
        )
    return outcome


def _lint_source(
    source: str,
    path: str,
    rules: Sequence[type[Rule]],
    *,
    torch_version: tuple[int, int] | None,
    rule_options: dict[str, dict[str, Any]] | None,
    test_code: bool,
    apply_suppressions: bool,
    reuse: IncrementalParser | None,
    project: ProjectIndex | None = None,
) -> LintOutcome:
    outcome = LintOutcome()
    if "\x00" in source:
        outcome.diagnostics.append(syntax_error(path, "SyntaxError: source contains null bytes"))
        outcome.parsed = False
        return outcome
    if test_code:
        rules = [rule for rule in rules if rule.report_in_tests]
    candidates = rules_for_source(source, rules)
    with phase("parse"):
        screened = screen(source, path, depth=bool(candidates))
    if screened.finding is not None:
        outcome.diagnostics.append(screened.finding)
        if not screened.parse:
            outcome.parsed = False
            return outcome
    if not candidates:
        # No rule can match, but a broken file is still reported. CPython's parser is far
        # cheaper than LibCST's; LibCST confirms, since it may accept newer syntax.
        if not screened.compiles and screened.finding is None:
            failure = parse(source, path)
            if isinstance(failure, Diagnostic):
                outcome.diagnostics.append(failure)
                outcome.parsed = False
        return outcome
    with phase("parse"):
        module = reuse.parse(source, screened.tree) if reuse is not None else None
        parsed = module if module is not None else parse(source, path)
    if isinstance(parsed, Diagnostic):
        if screened.finding is None:  # else CPython's finding says it already
            outcome.diagnostics.append(parsed)
        outcome.parsed = False
        return outcome
    with phase("facts"):
        facts = TorchFacts(parsed, source)
        if project is not None:
            facts.project, facts.path = project, Path(path)
    context = FileContext(
        path=path,
        source=source,
        module=parsed,
        facts=facts,
        torch_version=torch_version,
        rule_options=rule_options or {},
        test_code=test_code,
    )
    try:
        with phase("rules"):
            reports = run_rules(context, candidates, outcome.internal_errors)
    except RecursionError:
        outcome.internal_errors.append(
            InternalError(path, "engine", "code nested too deeply to analyse")
        )
        return outcome
    if not reports:
        return outcome
    try:
        with phase("metadata"), deep_recursion():
            diagnostics = to_diagnostics(reports, context, reuse)
    except RecursionError:
        outcome.internal_errors.append(
            InternalError(path, "engine", "code nested too deeply to locate its findings")
        )
        return outcome
    if apply_suppressions:
        diagnostics = without_suppressed(diagnostics, source)
    # Beside the screen's TL000, if any (a text CPython refused that LibCST could lint).
    outcome.diagnostics = sorted([*outcome.diagnostics, *diagnostics], key=lambda d: d.sort_key)
    return outcome
