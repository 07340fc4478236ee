"""The README's parity table: every peer rule maps to a torchlint rule, backed by a fixture line.

A row reads ``| TOR101 | what the peer reports | TL306 |``. The backing fixture line is a line in
``fixtures/cases/TL306/*.py`` carrying ``# expect: TL306`` and ``# parity: TOR101``; the fixture
test then proves torchlint reports it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\|\s*`?(?P<peer>(?:TOR|TG)\d{3})`?\s*\|[^|]*\|\s*(?P<ours>[^|]+?)\s*\|", re.M)
# TorchFix's TOR001-TOR402 (its README; the 0.7.0 release on PyPI lacks TOR108 and TOR402).
# TOR403, TOR801 and TOR901 lie outside that range and are listed in the README with reasons.
TORCHFIX = [
    "TOR001",
    "TOR002",
    "TOR003",
    "TOR004",
    "TOR101",
    "TOR102",
    "TOR103",
    "TOR104",
    "TOR105",
    "TOR106",
    "TOR107",
    "TOR108",
    "TOR201",
    "TOR202",
    "TOR203",
    "TOR401",
    "TOR402",
]
# torch-preflight 0.5.0: TG009 does not exist; TG010 is the VRAM estimate (out of scope).
PREFLIGHT = [
    "TG001",
    "TG002",
    "TG003",
    "TG004",
    "TG005",
    "TG006",
    "TG007",
    "TG008",
    "TG011",
    "TG012",
    "TG013",
    "TG014",
]


def parity_rows() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Parity with other PyTorch linters", 1)[1].split("\n## ", 1)[0]
    return {m.group("peer"): re.findall(r"TL\d{3}", m.group("ours")) for m in ROW.finditer(section)}


def backing_lines(peer: str, code: str) -> list[str]:
    hits = []
    for path in sorted((ROOT / "fixtures" / "cases").glob(f"*{code}*/*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(rf"#\s*parity:.*\b{peer}\b", line) and re.search(
                rf"#\s*expect:[^#]*\b{code}\b", line
            ):
                hits.append(line)
    return hits


def test_every_peer_rule_is_mapped() -> None:
    rows = parity_rows()
    unmapped = [peer for peer in TORCHFIX + PREFLIGHT if not rows.get(peer)]
    assert unmapped == []


def test_every_mapping_is_backed_by_a_reported_fixture_line() -> None:
    """Every torchlint code a row names, not only the first, has its own backing line."""
    missing = [
        (peer, code)
        for peer, codes in parity_rows().items()
        if peer in TORCHFIX + PREFLIGHT
        for code in codes
        if not backing_lines(peer, code)
    ]
    assert missing == []


def test_parity_rows_parse() -> None:
    """A row the pattern misses would be checked by nothing: the table has one row per peer."""
    section = (ROOT / "README.md").read_text(encoding="utf-8")
    section = section.split("## Parity with other PyTorch linters", 1)[1].split("\n## ", 1)[0]
    table_rows = [
        line for line in section.splitlines() if re.match(r"^\|\s*`?(?:TOR|TG)\d{3}", line)
    ]
    assert len(table_rows) == len(parity_rows()) == len(TORCHFIX + PREFLIGHT)


def test_torchfix_parity_doc_points_at_backing_lines() -> None:
    """``docs/parity-torchfix.md`` names a fixture ``file:line`` per row: each one must be a line
    marked ``# parity:`` with that TOR code and ``# expect:`` with a code the README row names."""
    rows = parity_rows()
    text = (ROOT / "docs" / "parity-torchfix.md").read_text(encoding="utf-8")
    checked = set()
    wrong = []
    for line in text.splitlines():
        match = re.match(r"^\|\s*(TOR\d{3})\s*\|", line)
        if match is None:
            continue
        peer = match.group(1)
        checked.add(peer)
        places = re.findall(r"(fixtures/cases/[\w+/.-]+\.py):(\d+)", line)
        if not places:
            wrong.append((peer, "no fixture line"))
        for path, number in places:
            lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
            index = int(number) - 1
            target = lines[index] if 0 <= index < len(lines) else ""
            expected = re.search(r"#\s*expect:\s*([^#]*)", target)
            codes = set(re.findall(r"TL\d{3}", expected.group(1))) if expected else set()
            if not re.search(rf"#\s*parity:.*\b{peer}\b", target) or not (
                codes & set(rows.get(peer, ()))
            ):
                wrong.append((peer, f"{path}:{number}"))
    assert wrong == []
    assert checked == set(TORCHFIX)
