"""The plug-in's fixture cases, checked with torchlint's own fixture-case helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from torchlint.registry import find_rule
from torchlint.testing import Case, check_case, fixture_cases

from torchlint_example_rules.rules import LoadWithoutMapLocation

CASES = fixture_cases(Path(__file__).parent / "cases")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case) -> None:
    check_case(case)


def test_the_rule_is_registered_through_the_entry_point() -> None:
    assert find_rule("EX001") is LoadWithoutMapLocation
    assert find_rule("load-without-map-location") is LoadWithoutMapLocation
