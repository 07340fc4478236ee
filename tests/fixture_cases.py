"""Reading the per-rule fixture files and their ``# expect:`` / ``# maybe:`` markers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "fixtures" / "cases"

_MARKER = re.compile(r"#\s*(expect|maybe):\s*(?P<codes>TL\d{3}(?:\s*,\s*TL\d{3})*)")


@dataclass
class Case:
    path: Path
    codes: tuple[str, ...]  # the codes this file is about: its directory name(s)
    expected: dict[int, set[str]]
    allowed: dict[int, set[str]]

    @property
    def fixed_path(self) -> Path:
        return self.path.with_name(self.path.name[: -len(".py")] + ".fixed.py")


def load_case(path: Path) -> Case:
    codes = tuple(path.parent.name.split("+"))
    expected: dict[int, set[str]] = {}
    allowed: dict[int, set[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for match in _MARKER.finditer(line):
            found = {c.strip() for c in match.group("codes").split(",")}
            target = expected if match.group(1) == "expect" else allowed
            target.setdefault(number, set()).update(found)
    return Case(path, codes, expected, allowed)


def all_cases() -> list[Case]:
    return [load_case(p) for p in sorted(CASES.glob("*/*.py")) if not p.name.endswith(".fixed.py")]
