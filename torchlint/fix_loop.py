"""Fix one source text: lint, apply the fixes that do not collide, lint again, until none is left
(bounded); every kept fix leaves code that parses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torchlint.diagnostics import Diagnostic, Edit, FixOutcome, FixPass, LintOutcome
from torchlint.edits import Span, apply_edits, fix_spans, line_offsets, overlaps
from torchlint.lint import lint_source
from torchlint.parsing import parses
from torchlint.registry import RuleRef, load_rules
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.project_index import ProjectIndex

MAX_FIX_PASSES = 10

# A fix as the loop remembers one it rejected: rule, line, column, edits.
FixKey = tuple[str, int, int, tuple[Edit, ...]]


def _edits(diagnostics: Sequence[Diagnostic]) -> list[Edit]:
    return [e for d in diagnostics if d.fix is not None for e in d.fix.edits]


def _key(diagnostic: Diagnostic) -> FixKey:
    edits = diagnostic.fix.edits if diagnostic.fix is not None else ()
    return (diagnostic.code, diagnostic.start.line, diagnostic.start.column, edits)


def fix_source(
    source: str,
    path: str,
    rules: Sequence[type[Rule] | RuleRef],
    *,
    unsafe: bool = False,
    torch_version: tuple[int, int] | None = None,
    rule_options: dict[str, dict[str, Any]] | None = None,
    test_code: bool = False,
    project: ProjectIndex | None = None,
) -> FixOutcome:
    """Apply fixes until none is left (bounded); every kept fix leaves code that parses."""
    loaded = load_rules(rules)
    outcome = FixOutcome(source=source)
    current = source
    rejected_keys: set[FixKey] = set()

    def lint(text: str) -> LintOutcome:
        return lint_source(
            text,
            path,
            loaded,
            torch_version=torch_version,
            rule_options=rule_options,
            test_code=test_code,
            project=project,
        )

    for _ in range(MAX_FIX_PASSES):
        result = lint(current)
        outcome.remaining = result
        step = FixPass(current, result)
        outcome.passes.append(step)
        fixable = [
            d
            for d in result.diagnostics
            if d.fix is not None and d.fix.is_applied_with(unsafe) and _key(d) not in rejected_keys
        ]
        if not fixable:
            outcome.source = current
            return outcome
        starts = line_offsets(current)
        chosen: list[Diagnostic] = []
        taken: list[Span] = []
        for diagnostic in fixable:
            assert diagnostic.fix is not None
            spans = fix_spans(diagnostic.fix, starts)
            if overlaps(spans, taken):
                continue  # the other fix comes on the next pass
            chosen.append(diagnostic)
            taken.extend(spans)
        candidate = apply_edits(current, _edits(chosen))
        if not parses(candidate):
            # Find the culprits one by one; keep the fixes that parse on their own.
            candidate = current
            kept: list[Diagnostic] = []
            for diagnostic in chosen:
                attempt = apply_edits(current, _edits([*kept, diagnostic]))
                if parses(attempt):
                    kept.append(diagnostic)
                    candidate = attempt
                else:
                    rejected_keys.add(_key(diagnostic))
                    outcome.rejected.append(diagnostic)
            chosen = kept
            if not chosen:
                continue
        outcome.applied.extend(chosen)
        step.applied = chosen
        current = candidate
    outcome.source = current
    final = lint(current)
    outcome.remaining = final
    outcome.passes.append(FixPass(current, final))
    outcome.converged = not any(
        d.fix is not None and d.fix.is_applied_with(unsafe) for d in final.diagnostics
    )
    return outcome
