"""Third-party rules arrive through the `torchlint.rules` entry-point group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PLUGIN_PATH = Path(__file__).resolve().parent / "data" / "plugin"


def _torchlint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), *sys.path])}
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugin_rule_is_listed_selected_and_reported(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text('print("hi")\n')
    listed = _torchlint("rules", "--output-format", "json", cwd=tmp_path)
    assert "XPL001" in {r["code"] for r in json.loads(listed.stdout)}
    result = _torchlint("--output-format", "json", "m.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)
    assert finding["code"] == "XPL001" and finding["name"] == "example-no-print"
    ignored = _torchlint("--ignore", "example-no-print", "m.py", cwd=tmp_path)
    assert ignored.returncode == 0
    doc = _torchlint("rule", "XPL001", cwd=tmp_path)
    assert "Reports `print(...)` calls" in doc.stdout


def test_without_the_plugin_the_rule_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text('print("hi")\n')
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "--select", "XPL001", "m.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "unknown rule selector 'XPL001'" in result.stderr
