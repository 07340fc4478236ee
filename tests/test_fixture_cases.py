"""Every fixture line marked ``# expect:`` is reported there; no unmarked line is reported; every
fix gives the case's ``.fixed.py`` (``torchlint.testing``, which plug-ins use for their cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchlint.registry import all_rules
from torchlint.testing import Case, check_fix, check_markers, fixture_cases

CASES = fixture_cases(Path(__file__).resolve().parent.parent / "fixtures" / "cases")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_expectations(case: Case) -> None:
    check_markers(case)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fix_output(case: Case) -> None:
    """With a ``.fixed.py``: the fixes give it and settle; without: the fixes change nothing."""
    check_fix(case)


def test_every_rule_has_fixture_cases() -> None:
    covered = {code for case in CASES for code in case.codes}
    missing = [r.code for r in all_rules() if r.code not in covered and r.code != "TL000"]
    assert missing == []
