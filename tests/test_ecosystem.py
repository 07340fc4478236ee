"""The ecosystem check's committed state: snapshot, verdicts and generated pages agree, and the
measured precision holds the bar (every default rule with 5 or more findings right 9 times in 10,
all default rules together 95%, no judged fix wrong)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ECOSYSTEM = Path(__file__).resolve().parents[1] / "benchmarks" / "ecosystem"
sys.path.insert(0, str(ECOSYSTEM))

import precision_pages  # noqa: E402
from corpus import load_projects  # noqa: E402
from findings import Finding, read_snapshot  # noqa: E402
from run import default_rules, project_names  # noqa: E402
from verdicts import (  # noqa: E402
    SAMPLE,
    Verdict,
    precision_table,
    problems,
    read_verdicts,
    sample,
    totals,
)

SNAPSHOT = read_snapshot()
VERDICTS = read_verdicts()
TABLE = precision_table(SNAPSHOT, VERDICTS)


def test_the_corpus_is_at_least_twelve_pinned_projects() -> None:
    projects = load_projects()
    assert len(projects) >= 12
    assert all(len(p.sha256) == 64 and p.version[0].isdigit() for p in projects)


def test_the_snapshot_holds_default_rules_only() -> None:
    default = {code for code, _, preview in default_rules() if not preview}
    assert SNAPSHOT, "the snapshot is empty: run benchmarks/ecosystem/run.py --update"
    stray = sorted({f.code for f in SNAPSHOT} - default)
    assert stray == [], f"snapshot has findings of rules that are not default: {stray}"


def test_every_sampled_finding_is_judged_and_no_verdict_is_stale() -> None:
    assert problems(SNAPSHOT, VERDICTS) == []


@pytest.mark.parametrize("code", sorted(TABLE))
def test_each_default_rule_is_precise_enough(code: str) -> None:
    row = TABLE[code]
    assert row.fixes_wrong == 0, f"{code}: {row.fixes_wrong} judged fixes are wrong"
    if row.findings >= 5:
        assert row.precision is not None and row.precision >= 0.9, (
            f"{code}: {row.tp} of {row.judged} judged findings right"
        )


def test_default_rules_together_are_95_percent_precise() -> None:
    pooled, _ = totals(TABLE)
    assert pooled is not None and pooled >= 0.95


def test_generated_precision_pages_are_up_to_date() -> None:
    stale = [
        str(path.relative_to(ECOSYSTEM.parents[1]))
        for path, text in precision_pages.expected(TABLE, default_rules(), project_names()).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run: python benchmarks/ecosystem/run.py --write-docs"


def test_torchlint_rules_shows_the_measured_precision() -> None:
    from click.testing import CliRunner

    from torchlint.cli import main

    measured = next(code for code, row in sorted(TABLE.items()) if row.judged)
    result = CliRunner().invoke(main, ["rules", "--output-format", "json"])
    record = next(r for r in json.loads(result.output) if r["code"] == measured)
    assert record["precision"]["judged"] == TABLE[measured].judged
    assert record["precision"]["right"] == TABLE[measured].tp
    text = CliRunner().invoke(main, ["rules"]).output
    header, _, *rows = text.splitlines()
    assert "precision" in header.split()
    row = next(r for r in rows if r.startswith(measured))
    assert f"({TABLE[measured].judged})" in row


def _finding(i: int, code: str = "TL999") -> Finding:
    return Finding(f"p-1/f{i}.py:{i}:0:{code}", code, "m", None)


def test_the_sample_is_seeded_and_stable_when_findings_come_and_go() -> None:
    many = [_finding(i) for i in range(200)]
    chosen = sample(many)
    assert len(chosen) == SAMPLE
    assert sample(list(reversed(many))) == chosen  # order of the input does not matter
    # Adding findings keeps every earlier sampled finding unless a new one ranks before it.
    grown = sample(many + [_finding(i) for i in range(200, 210)])
    assert len(set(chosen) & set(grown)) >= SAMPLE - 10
    assert sample(many[:10]) == sorted(many[:10])  # a small rule is judged whole


def test_problems_name_unjudged_stale_and_unjudged_fixes() -> None:
    fixed = Finding("p-1/a.py:1:0:TL999", "TL999", "m", "unsafe")
    plain = _finding(2)
    verdicts = [
        Verdict(fixed.id, "TP", "none", "reason"),
        Verdict("p-1/gone.py:1:0:TL999", "FP", "none", "reason"),
    ]
    found = problems([fixed, plain], verdicts)
    assert f"{fixed.id}: the finding offers a unsafe fix: judge it" in found
    assert (
        "p-1/gone.py:1:0:TL999: verdict for a finding that is not in the snapshot's samples"
        in found
    )
    assert f"{plain.id}: not judged" in found
