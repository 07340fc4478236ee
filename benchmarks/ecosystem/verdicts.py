"""Verdicts: which findings were judged by hand, what they were judged, and the precision that follows.

``verdicts.tsv`` has one row per judged finding: ``id``, ``verdict`` (TP / FP / UNSURE), ``fix``
(correct / wrong / none) and a one-line ``reason`` (the meanings are in shared/judging.md).

A rule with more than ``SAMPLE`` findings is judged on a sample: its findings ordered by a hash of
their id with a fixed seed, the first ``SAMPLE`` taken. Nobody picks, and a change that adds or
removes a few findings leaves the rest of the sample where it was.

Precision is TP over every judged finding: UNSURE counts against a rule, so that a rule cannot look
better by being hard to judge.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from findings import Finding

HERE = Path(__file__).resolve().parent
VERDICTS = HERE / "verdicts.tsv"
SAMPLE = 30
SEED = "torchlint-ecosystem-1"
VERDICT_VALUES = ("TP", "FP", "UNSURE")
FIX_VALUES = ("correct", "wrong", "none")
COLUMNS = ("id", "verdict", "fix", "reason")


@dataclass(frozen=True)
class Verdict:
    id: str
    verdict: str
    fix: str
    reason: str

    @property
    def code(self) -> str:
        return self.id.rsplit(":", 1)[1]


def _rank(finding_id: str) -> str:
    return hashlib.sha256(f"{SEED}:{finding_id}".encode()).hexdigest()


def sample(findings: list[Finding]) -> list[Finding]:
    """The findings of one rule to judge: all of them, or the seeded sample of ``SAMPLE``."""
    return sorted(sorted(findings, key=lambda f: _rank(f.id))[:SAMPLE])


def samples(findings: list[Finding]) -> dict[str, list[Finding]]:
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_code[finding.code].append(finding)
    return {code: sample(group) for code, group in sorted(by_code.items())}


def read_verdicts(path: Path = VERDICTS) -> list[Verdict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Verdict(**{k: (row.get(k) or "").strip() for k in COLUMNS}) for row in rows]


def write_verdicts(verdicts: list[Verdict], path: Path = VERDICTS) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(COLUMNS) + "\n")
        for v in sorted(verdicts, key=lambda v: v.id):
            reason = " ".join(v.reason.split())
            handle.write(f"{v.id}\t{v.verdict}\t{v.fix}\t{reason}\n")


@dataclass
class RulePrecision:
    code: str
    findings: int = 0
    tp: int = 0
    fp: int = 0
    unsure: int = 0
    fixes_correct: int = 0
    fixes_wrong: int = 0

    @property
    def judged(self) -> int:
        return self.tp + self.fp + self.unsure

    @property
    def precision(self) -> float | None:
        return self.tp / self.judged if self.judged else None


def precision_table(findings: list[Finding], verdicts: list[Verdict]) -> dict[str, RulePrecision]:
    table: dict[str, RulePrecision] = {}
    for finding in findings:
        table.setdefault(finding.code, RulePrecision(finding.code)).findings += 1
    judged = {v.id: v for v in verdicts}
    for code, chosen in samples(findings).items():
        row = table[code]
        for finding in chosen:
            verdict = judged.get(finding.id)
            if verdict is None:
                continue
            if verdict.verdict == "TP":
                row.tp += 1
            elif verdict.verdict == "FP":
                row.fp += 1
            else:
                row.unsure += 1
            if verdict.fix == "correct":
                row.fixes_correct += 1
            elif verdict.fix == "wrong":
                row.fixes_wrong += 1
    return table


def totals(table: dict[str, RulePrecision]) -> tuple[float | None, float | None]:
    """(TP over all judged findings, precision weighted by each rule's number of findings)."""
    judged = sum(r.judged for r in table.values())
    pooled = sum(r.tp for r in table.values()) / judged if judged else None
    weighted_rows = [r for r in table.values() if r.precision is not None]
    weight = sum(r.findings for r in weighted_rows)
    weighted = (
        sum(r.findings * (r.precision or 0.0) for r in weighted_rows) / weight if weight else None
    )
    return pooled, weighted


def problems(findings: list[Finding], verdicts: list[Verdict]) -> list[str]:
    """What keeps snapshot and verdicts out of step: unjudged samples, stale or malformed rows."""
    out = []
    wanted = {f.id: f for chosen in samples(findings).values() for f in chosen}
    seen: set[str] = set()
    for v in verdicts:
        if v.id in seen:
            out.append(f"{v.id}: judged twice")
        seen.add(v.id)
        if v.id not in wanted:
            out.append(f"{v.id}: verdict for a finding that is not in the snapshot's samples")
            continue
        if v.verdict not in VERDICT_VALUES:
            out.append(f"{v.id}: verdict {v.verdict!r} is not one of {VERDICT_VALUES}")
        if v.fix not in FIX_VALUES:
            out.append(f"{v.id}: fix verdict {v.fix!r} is not one of {FIX_VALUES}")
        if wanted[v.id].applicable_fix and v.fix == "none":
            out.append(f"{v.id}: the finding offers a {wanted[v.id].fix} fix: judge it")
        if not wanted[v.id].applicable_fix and v.fix != "none":
            out.append(f"{v.id}: the finding offers no applicable fix, so its fix verdict is none")
        if not v.reason:
            out.append(f"{v.id}: no reason given")
    out.extend(f"{i}: not judged" for i in sorted(set(wanted) - seen))
    return out
