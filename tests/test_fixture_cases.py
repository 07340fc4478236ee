"""Every fixture line marked ``# expect:`` is reported there; no unmarked line is reported."""

from __future__ import annotations

import pytest
from fixture_cases import Case, all_cases

from torchlint.config import Settings
from torchlint.engine import fix_source, lint_source
from torchlint.registry import find_rule

CASES = all_cases()


def _test_code(case: Case) -> bool:
    """Whether the case file is test code under the default ``test-code`` patterns."""
    return Settings(root=case.path.parent).is_test_code(case.path)


def _rules(case: Case):
    rules = [find_rule(code) for code in case.codes]
    assert all(rules), f"{case.path}: unknown rule directory {case.codes}"
    return rules


@pytest.mark.parametrize("case", CASES, ids=[f"{c.path.parent.name}/{c.path.name}" for c in CASES])
def test_expectations(case: Case) -> None:
    source = case.path.read_text(encoding="utf-8")
    outcome = lint_source(source, str(case.path), _rules(case), test_code=_test_code(case))
    assert outcome.internal_errors == []
    reported: dict[int, set[str]] = {}
    for d in outcome.diagnostics:
        reported.setdefault(d.start.line, set()).add(d.code)
    missing = {
        line: codes - reported.get(line, set())
        for line, codes in case.expected.items()
        if codes - reported.get(line, set())
    }
    unexpected = {
        line: codes - case.expected.get(line, set()) - case.allowed.get(line, set())
        for line, codes in reported.items()
        if codes - case.expected.get(line, set()) - case.allowed.get(line, set())
    }
    assert not missing, f"not reported: {missing}"
    assert not unexpected, f"false positives: {unexpected}"


FIXABLE = [c for c in CASES if c.fixed_path.exists()]


@pytest.mark.parametrize(
    "case", FIXABLE, ids=[f"{c.path.parent.name}/{c.path.name}" for c in FIXABLE]
)
def test_fix_output(case: Case) -> None:
    source = case.path.read_text(encoding="utf-8")
    rules = _rules(case)
    test_code = _test_code(case)
    fixed = fix_source(source, str(case.path), rules, unsafe=True, test_code=test_code)
    assert fixed.source == case.fixed_path.read_text(encoding="utf-8")
    assert fixed.converged
    again = fix_source(fixed.source, str(case.path), rules, unsafe=True, test_code=test_code)
    assert again.source == fixed.source
    assert not [
        d
        for d in again.remaining.diagnostics
        if d.fix and d.fix.edits and d.fix.applicability.value != "display-only"
    ]


def test_every_rule_has_fixture_cases() -> None:
    from torchlint.registry import all_rules

    covered = {code for case in CASES for code in case.codes}
    missing = [r.code for r in all_rules() if r.code not in covered and r.code != "TL000"]
    assert missing == []


def test_every_case_that_a_fix_changes_has_its_fixed_file() -> None:
    """Otherwise ``test_fix_output`` would never see the fixes of that case."""
    missing = [
        str(case.path)
        for case in CASES
        if not case.fixed_path.exists()
        and fix_source(
            case.path.read_text(encoding="utf-8"),
            str(case.path),
            _rules(case),
            unsafe=True,
            test_code=_test_code(case),
        ).source
        != case.path.read_text(encoding="utf-8")
    ]
    assert missing == []
