"""The ``test-code`` setting: one notion of test code, configurable, used by every rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ANOMALY = "import torch\n\ntorch.autograd.set_detect_anomaly(True)\n"


def _lint(root: Path, *args: str) -> tuple[int, list[str], str]:
    done = subprocess.run(
        [sys.executable, "-m", "torchlint", "--no-cache", "--output-format", "json", *args, "."],
        cwd=root,
        capture_output=True,
        text=True,
    )
    files = []
    if done.stdout.strip():
        files = sorted(
            Path(f["filename"]).resolve().relative_to(root.resolve()).as_posix()
            for f in json.loads(done.stdout)
        )
    return done.returncode, files, done.stderr


def _project(tmp_path: Path, config: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.torchlint]\n{config}", encoding="utf-8")
    for name in ("train.py", "tests/helpers.py", "pkg/test_model.py", "checks/run.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ANOMALY, encoding="utf-8")
    return tmp_path


def test_default_test_code_is_tests_folders_and_test_files(tmp_path: Path) -> None:
    code, files, _ = _lint(_project(tmp_path))
    assert code == 1
    assert files == ["checks/run.py", "train.py"]


def test_test_code_patterns_are_configurable(tmp_path: Path) -> None:
    code, files, _ = _lint(_project(tmp_path, 'test-code = ["checks/"]\n'))
    assert files == ["pkg/test_model.py", "tests/helpers.py", "train.py"]


def test_an_empty_test_code_list_lints_tests_like_any_code(tmp_path: Path) -> None:
    code, files, _ = _lint(_project(tmp_path, "test-code = []\n"))
    assert files == ["checks/run.py", "pkg/test_model.py", "tests/helpers.py", "train.py"]


def test_test_code_must_be_a_list_of_strings(tmp_path: Path) -> None:
    code, files, err = _lint(_project(tmp_path, 'test-code = "tests"\n'))
    assert code == 2
    assert "test-code" in err and "expected a list of strings" in err


def test_a_rule_that_does_not_report_in_tests_is_not_run_on_test_code() -> None:
    import libcst as cst

    from torchlint.diagnostics import Category, Precision, Severity
    from torchlint.engine import lint_source
    from torchlint.rule import Rule

    class NotInTests(Rule):
        code = "TL992"
        name = "test-not-in-tests"
        summary = "test"
        category = Category.PERFORMANCE
        severity = Severity.WARNING
        precision = Precision.HIGH
        report_in_tests = False

        def visit_Call(self, node: cst.Call) -> None:
            self.report(node, "a call")

    source = "f()\n"
    assert [d.code for d in lint_source(source, "a.py", [NotInTests]).diagnostics] == ["TL992"]
    assert lint_source(source, "tests/a.py", [NotInTests], test_code=True).diagnostics == []
