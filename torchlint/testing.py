"""Fixture-case testing for rules: torchlint's own, and a plug-in's from its own pytest.

A *cases directory* holds one folder per rule, named by its code (``EX001``; ``EX001+EX002`` for
a file about two rules), with Python files whose comments say what must be reported::

    model = torch.load(path)  # expect: EX001
    other = torch.load(path)  # maybe: EX001, EX002

- a line ending with ``# expect: CODE[, CODE...]`` must be reported for each code, there;
- ``# maybe: CODE`` makes a report there acceptable but not required;
- every other line must not be reported for the folder's codes.

The report line is the anchor's first line. Codes are any letters followed by digits (``TL001``,
``EX1``, ``ACME042``). ``x.fixed.py`` beside ``x.py`` is the expected result of applying every fix
of the folder's rules, unsafe ones included: it must match byte for byte, and a second fix pass
must change nothing. A case without ``x.fixed.py`` must be left unchanged by the fixes.

In a plug-in's tests (the plug-in installed, e.g. ``pip install -e .``)::

    from pathlib import Path

    import pytest
    from torchlint.testing import check_case, fixture_cases

    CASES = fixture_cases(Path(__file__).parent / "cases")

    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_case(case):
        check_case(case)

``check_case`` raises ``AssertionError`` saying which lines were missed or wrongly reported, or how
the fixed text differs. Rules are found by the folder's codes among the registered rules; pass
``rules=[MyRule]`` to test classes that are not registered (yet).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchlint.rule import Rule

__all__ = ["Case", "check_case", "check_fix", "check_markers", "fixture_cases", "load_case"]

_CODE = r"[A-Za-z]+\d+"
_MARKER = re.compile(rf"#\s*(?P<kind>expect|maybe):\s*(?P<codes>{_CODE}(?:\s*,\s*{_CODE})*)")
_FIXED_SUFFIX = ".fixed.py"


@dataclass(frozen=True)
class Case:
    """One fixture file: the codes it is about and the lines its markers name."""

    path: Path
    codes: tuple[str, ...]  # the codes this file is about: its folder's name, split at "+"
    expected: dict[int, frozenset[str]]  # line -> codes that must be reported there
    allowed: dict[int, frozenset[str]]  # line -> codes that may be reported there

    @property
    def fixed_path(self) -> Path:
        return self.path.with_name(self.path.name[: -len(".py")] + _FIXED_SUFFIX)

    def __str__(self) -> str:
        """``CODE/name.py``: a readable pytest id (``ids=str``)."""
        return f"{self.path.parent.name}/{self.path.name}"


def load_case(path: Path) -> Case:
    """The case in ``path`` (``<CODE>/<name>.py``), its markers read."""
    expected: dict[int, set[str]] = {}
    allowed: dict[int, set[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for match in _MARKER.finditer(line):
            target = expected if match.group("kind") == "expect" else allowed
            target.setdefault(number, set()).update(
                c.strip().upper() for c in match.group("codes").split(",")
            )
    return Case(
        path,
        tuple(c.upper() for c in path.parent.name.split("+")),
        {line: frozenset(codes) for line, codes in expected.items()},
        {line: frozenset(codes) for line, codes in allowed.items()},
    )


def fixture_cases(directory: Path | str) -> list[Case]:
    """Every case under ``directory`` (``<directory>/<CODE>/*.py``, ``.fixed.py`` files aside),
    in path order. Raises ``ValueError`` when there is none: a mistyped path must not pass."""
    root = Path(directory)
    paths = sorted(p for p in root.glob("*/*.py") if not p.name.endswith(_FIXED_SUFFIX))
    if not paths:
        raise ValueError(f"no fixture cases in {root} (expected {root}/<CODE>/<name>.py)")
    return [load_case(p) for p in paths]


def _rules(case: Case, rules: Sequence[type[Rule]] | None) -> list[type[Rule]]:
    if rules is not None:
        chosen = [r for r in rules if r.code.upper() in case.codes]
        known = {r.code.upper() for r in chosen}
    else:
        from torchlint.registry import find_rule

        found = [find_rule(code) for code in case.codes]
        chosen = [r for r in found if r is not None]
        known = {r.code.upper() for r in chosen}
    unknown = [c for c in case.codes if c not in known]
    if unknown:
        raise AssertionError(
            f"{case.path}: no rule {', '.join(unknown)} (is the plug-in installed, or pass rules=)"
        )
    return chosen


def _is_test_code(case: Case) -> bool:
    """Whether the case file is test code under the default ``test-code`` patterns (some rules
    are silent in tests)."""
    from torchlint.config import Settings

    return Settings(root=case.path.parent).is_test_code(case.path)


def check_markers(case: Case, rules: Sequence[type[Rule]] | None = None) -> None:
    """Every ``# expect:`` line is reported with its codes, and nothing else is reported for the
    case's codes (``# maybe:`` lines aside); raises ``AssertionError`` otherwise."""
    from torchlint.engine import lint_source

    source = case.path.read_text(encoding="utf-8")
    outcome = lint_source(
        source, str(case.path), _rules(case, rules), test_code=_is_test_code(case)
    )
    assert not outcome.internal_errors, f"{case}: a rule crashed: {outcome.internal_errors}"
    reported: dict[int, set[str]] = {}
    for d in outcome.diagnostics:
        reported.setdefault(d.start.line, set()).add(d.code.upper())
    missing = {
        line: sorted(codes - reported.get(line, set()))
        for line, codes in case.expected.items()
        if codes - reported.get(line, set())
    }
    unexpected = {
        line: sorted(codes - case.expected.get(line, set()) - case.allowed.get(line, set()))
        for line, codes in reported.items()
        if codes - case.expected.get(line, set()) - case.allowed.get(line, set())
    }
    assert not missing, f"{case}: not reported (line: codes): {missing}"
    assert not unexpected, f"{case}: reported on unmarked lines (line: codes): {unexpected}"


def check_fix(case: Case, rules: Sequence[type[Rule]] | None = None) -> None:
    """Applying every fix of the case's rules (unsafe ones too) gives ``x.fixed.py`` byte for
    byte, or leaves the case unchanged when it has none; a second pass changes nothing and leaves
    no applicable fix. Raises ``AssertionError`` with a diff otherwise."""
    from torchlint.diagnostics import Applicability
    from torchlint.engine import fix_source

    chosen = _rules(case, rules)
    test_code = _is_test_code(case)
    source = case.path.read_text(encoding="utf-8")
    fixed = fix_source(source, str(case.path), chosen, unsafe=True, test_code=test_code)
    has_fixed_file = case.fixed_path.exists()
    expected = case.fixed_path.read_text(encoding="utf-8") if has_fixed_file else source
    if fixed.source != expected:
        what = case.fixed_path.name if has_fixed_file else f"{case.path.name} (no .fixed.py)"
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                fixed.source.splitlines(keepends=True),
                what,
                "the fixed text",
            )
        )
        raise AssertionError(f"{case}: the fixes do not give {what}:\n{diff}")
    assert fixed.converged, f"{case}: the fixes did not settle"
    again = fix_source(fixed.source, str(case.path), chosen, unsafe=True, test_code=test_code)
    assert again.source == fixed.source, f"{case}: a second fix pass changes the fixed text"
    pending = [
        d
        for d in again.remaining.diagnostics
        if d.fix and d.fix.edits and d.fix.applicability is not Applicability.DISPLAY_ONLY
    ]
    assert not pending, f"{case}: fixes still offered on the fixed text: {pending}"


def check_case(case: Case, rules: Sequence[type[Rule]] | None = None) -> None:
    """``check_markers`` and ``check_fix``: everything a fixture case promises."""
    check_markers(case, rules)
    check_fix(case, rules)
