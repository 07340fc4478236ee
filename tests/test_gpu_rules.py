"""benchmarks/gpu_rules: every performance rule has a script that it reports, and a fix alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint.registry import rule_catalog

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "gpu_rules"


def _rules() -> list[tuple[str, str, str]]:
    text = (BENCH / "run.sh").read_text()
    block = text.split('RULES="', 1)[1].split('"', 1)[0]
    return [tuple(line.split()) for line in block.strip().splitlines()]  # type: ignore[misc]


RULES = _rules()


def _codes(path: Path, code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--no-cache", "--preview", "--select", code]
        + ["--output-format", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode in (0, 1), result.stderr
    return [d["code"] for d in json.loads(result.stdout)]


# Each case lints and fixes a benchmark script of realistic size: run with the slow tests.
pytestmark = pytest.mark.slow


def test_every_performance_rule_has_a_script() -> None:
    wanted = {
        r.code
        for r in rule_catalog()
        if r.category.value == "performance" or r.code in ("TL501", "TL502")
    }
    assert {code for code, _, _ in RULES} == wanted


@pytest.mark.parametrize(("code", "script", "how"), RULES, ids=[r[0] for r in RULES])
def test_script_has_the_anti_pattern_and_the_fix_removes_it(
    code: str, script: str, how: str, tmp_path: Path
) -> None:
    path = BENCH / script
    assert code in _codes(path, code)
    if how == "hand":
        fixed = path.with_name(path.stem + ".fixed.py")
    else:
        fixed = tmp_path / script
        shutil.copy(path, fixed)
        subprocess.run(
            [sys.executable, "-m", "torchlint", "check", "--no-cache", "--fix", "--unsafe-fixes"]
            + ["--select", code, str(fixed)],
            capture_output=True,
            check=False,
            cwd=ROOT,
        )
        assert fixed.read_text() != path.read_text()
    assert code not in _codes(fixed, code)
