"""Findings on the corpus: lint it, and read and write the committed snapshot.

A finding's id is ``<project>-<version>/<path>:<line>:<column>:<code>``: stable while the corpus is
pinned, readable, and enough to open the file. The snapshot holds one JSON object per line, sorted
by id, so a change in findings reads as a small diff in review.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SNAPSHOT = HERE / "snapshot.jsonl"


@dataclass(frozen=True, order=True)
class Finding:
    id: str
    code: str
    message: str
    fix: str | None  # the fix's applicability ("safe", "unsafe", "display-only"), None without one

    @property
    def path(self) -> str:
        return self.id.rsplit(":", 3)[0]

    @property
    def line(self) -> int:
        return int(self.id.rsplit(":", 3)[1])

    @property
    def applicable_fix(self) -> bool:
        return self.fix in ("safe", "unsafe")


def lint(corpus: Path, jobs: int | None = None, extra: tuple[str, ...] = ()) -> list[Finding]:
    """Lint the corpus with this checkout's torchlint (default rules, no cache)."""
    command = [sys.executable, "-m", "torchlint", "check", "--no-cache", "--exit-zero"]
    command += ["--output-format", "json", *extra, "."]
    if jobs:
        command += ["--jobs", str(jobs)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(command, cwd=corpus, capture_output=True, text=True, env=env)
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(f"torchlint failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    out = []
    for item in json.loads(done.stdout):
        relative = Path(item["filename"]).resolve().relative_to(corpus.resolve()).as_posix()
        row, column = item["location"]["row"], item["location"]["column"]
        fix = item["fix"]["applicability"] if item.get("fix") else None
        out.append(
            Finding(f"{relative}:{row}:{column}:{item['code']}", item["code"], item["message"], fix)
        )
    return sorted(out)


def read_snapshot(path: Path = SNAPSHOT) -> list[Finding]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Finding(**json.loads(line)) for line in lines if line.strip()]


def write_snapshot(findings: list[Finding], path: Path = SNAPSHOT) -> None:
    text = "".join(json.dumps(asdict(f), sort_keys=True) + "\n" for f in sorted(findings))
    path.write_text(text, encoding="utf-8")


def context(corpus: Path, finding: Finding, around: int = 2) -> str:
    """The finding's line with ``around`` lines either side, numbered, the line itself marked."""
    try:
        lines = (corpus / finding.path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "    (file not in the corpus)"
    start = max(finding.line - around, 1)
    end = min(finding.line + around, len(lines))
    return "\n".join(
        f"{'>' if n == finding.line else ' '} {n:5} | {lines[n - 1]}" for n in range(start, end + 1)
    )
