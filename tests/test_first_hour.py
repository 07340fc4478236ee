"""A newcomer's first hour (issue 19): the README's commands and install lines work as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def readme_test_command() -> str:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None
    return block.group(1).splitlines()[1].strip()


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, re.S)


def test_readme_test_command_is_quick_and_ci_runs_the_rest() -> None:
    command = readme_test_command()
    assert re.search(r"-n (auto|\d+)", command), "the suite runs on every core (pytest-xdist)"
    assert '-m "not slow"' in command
    assert command in CI_RUN
    # .ci/run also runs what the README's command leaves out, and every tool those tests need.
    assert re.search(r"python -m pytest .*-m slow", CI_RUN)
    assert "apt-get update" in CI_RUN and "neovim" in CI_RUN and "chromium" in CI_RUN
    assert "TORCHLINT_REQUIRE_TOOLS=1" in CI_RUN
    markers = PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("slow:") for m in markers)


def test_test_extra_takes_a_torch_range_and_the_commands_pin_torch() -> None:
    test_extra = PYPROJECT["project"]["optional-dependencies"]["test"]
    [torch] = [r for r in test_extra if re.match(r"torch\b", r)]
    assert "==" not in torch and ">=" in torch, torch
    assert any(r.startswith("pytest-xdist") for r in test_extra)
    assert "pip install torch==2.13.0" in readme_test_command()
    assert "pip install torch==2.13.0" in CI_RUN


def test_readme_slow_marker_deselects_the_precommit_tests() -> None:
    """The quick command collects no test marked slow; `-m slow` collects the pre-commit tests."""

    def collected(*args: str) -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return [line for line in proc.stdout.splitlines() if "::" in line]

    slow = collected("-m", "slow", "tests/test_precommit.py", "tests/test_first_hour.py")
    quick = collected("-m", "not slow", "tests/test_precommit.py", "tests/test_first_hour.py")
    assert any("test_precommit.py" in t for t in slow)
    assert not any("test_precommit.py" in t for t in quick)
    assert not set(slow) & set(quick)


def install_lines() -> list[str]:
    lines: list[str] = []
    for block in code_blocks(README):
        for line in block.splitlines():
            for match in re.finditer(r"pip install ([^&#\n]+)", line):
                lines.append(match.group(1).strip())
    return lines


def test_every_install_line_names_a_source_that_exists_today() -> None:
    """torchlint is not on the package index: every `pip install` of it is from a clone, a
    checked-out folder or a git URL; never a bare `torchlint` or a release tag that does not exist."""
    torchlint_lines = [line for line in install_lines() if not line.startswith("torch==")]
    assert torchlint_lines
    for line in torchlint_lines:
        spec = line.split()[-1].strip("'\"") if " @ " not in line else line.strip("'\"")
        from_folder = re.fullmatch(r"(-e )?'?\.?\.?/?[\w./-]*(\[[\w,]+\])?'?", line) is not None
        from_git = re.search(r"torchlint(\[[\w,]+\])? @ git\+https://", spec) is not None
        assert from_folder or from_git, line
    revs = re.findall(r"^\s*rev: (.*?)\s*(#.*)?$", "\n".join(code_blocks(README)), re.M)
    assert revs and all(rev == "<commit SHA>" for rev, _ in revs), revs
    assert "rev` is the git revision" in README  # and the README says what to put there


@pytest.mark.slow
def test_git_url_install_line_installs_the_lsp_extra(tmp_path: Path) -> None:
    """The README's `pip install 'torchlint[lsp] @ git+…@<commit SHA>'`, with a committed copy of
    this tree standing in for the repository, gives a working `torchlint`."""
    line = next(line for line in install_lines() if line.startswith("'torchlint[lsp] @ git+"))
    repo = tmp_path / "torchlint"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "torchlint", "rules"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, repo / name)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    # file://localhost/...: pip before 24 rejects a git+file URL with an empty host.
    spec = line.strip("'").replace(
        "https://github.com/<owner>/torchlint", f"file://localhost{repo}"
    )
    spec = spec.replace("<commit SHA>", sha)
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--target", str(target), spec],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = subprocess.run(
        [sys.executable, "-c", "from torchlint.cli import run_cli; run_cli()", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0 and "torchlint" in run.stdout, run.stdout + run.stderr
    metadata = next(target.glob("torchlint-*.dist-info")) / "METADATA"
    assert "Provides-Extra: lsp" in metadata.read_text(encoding="utf-8")
