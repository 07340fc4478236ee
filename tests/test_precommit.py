"""The hooks in ``.pre-commit-hooks.yaml``, run by real pre-commit as a user runs them.

The hook repository is a committed copy of this source tree (so uncommitted work is what gets
tested and the checkout's own git state is never touched). Each test project names it in its
``.pre-commit-config.yaml`` with ``rev:`` set to that commit's SHA, as the README's example does, and
runs ``pre-commit run``. pre-commit keys its hook environments by repository and rev, and every
test shares one ``PRE_COMMIT_HOME``, so the environment is built once per session (the tests share
an xdist group, so one worker runs them all). Marked slow: that build pip-installs torchlint and its
dependencies (``.ci/run`` runs the slow tests).
"""

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

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("precommit")]

pytest.importorskip("pre_commit")
if shutil.which("git") is None:  # pragma: no cover - git is everywhere CI runs
    pytest.skip("pre-commit needs git", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
HOOK_REPO_FILES = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    ".pre-commit-hooks.yaml",
    "torchlint",
    "rules",
)

# TL201's unsafe fix is offered where the loaded object is a state dict.
BAD = 'import torch\n\nmodel.load_state_dict(torch.load("checkpoint.pt"))\n'
GOOD = 'import torch\n\nmodel.load_state_dict(torch.load("checkpoint.pt", weights_only=True))\n'


def _git_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="torchlint tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="torchlint tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        PRE_COMMIT_HOME=str(home),
        PRE_COMMIT_COLOR="never",
    )
    env.pop("PRE_COMMIT", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def _git(cwd: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """(hook repository, its commit SHA, environment with the shared PRE_COMMIT_HOME)."""
    base = tmp_path_factory.mktemp("precommit")
    env = _git_env(base / "cache")
    repo = base / "hook-repo"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in HOOK_REPO_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, repo / name)
    _git(repo, env, "init", "-q")
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "hooks")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    env.update(_wheelhouse(base / "wheelhouse"))
    return repo, sha, env


def _wheelhouse(directory: Path) -> dict[str, str]:
    """try-repo installs the hook into a fresh environment on every call; fetch its build and run
    dependencies once so those installs need no index. Without a network the calls go online."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [*pyproject["build-system"]["requires"], *pyproject["project"]["dependencies"]]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary",
            ":all:",
            "--dest",
            str(directory),
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        return {}
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(directory)}


Hooks = tuple[Path, str, dict[str, str]]


@pytest.fixture
def project(tmp_path: Path, hooks: Hooks) -> Path:
    repo, sha, env = hooks
    _git(tmp_path, env, "init", "-q")
    (tmp_path / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {repo}\n    rev: {sha}\n    hooks:\n"
        "      - id: torchlint-fix\n      - id: torchlint\n",
        encoding="utf-8",
    )
    return tmp_path


def run_hook(project: Path, hooks: Hooks, hook: str) -> subprocess.CompletedProcess[str]:
    _, _, env = hooks
    _git(project, env, "add", "-A")  # --all-files means the files git knows
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", hook, "--all-files", "--verbose"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_check_hook_fails_on_a_finding_and_passes_once_clean(project: Path, hooks: Hooks) -> None:
    bad = project / "train.py"
    bad.write_text(BAD, encoding="utf-8")
    (project / "README.txt").write_text("not python\n", encoding="utf-8")
    (project / "stub.pyi").write_text("def f() -> int: ...\n", encoding="utf-8")
    # pre-commit names every file on the command line; the config's excludes apply all the same.
    (project / "pyproject.toml").write_text(
        '[tool.torchlint]\nextend-exclude = ["generated/", "legacy_*.py"]\n', encoding="utf-8"
    )
    (project / "generated").mkdir()
    (project / "generated" / "model_pb.py").write_text(BAD, encoding="utf-8")
    (project / "legacy_loader.py").write_text(BAD, encoding="utf-8")

    proc = run_hook(project, hooks, "torchlint")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert re.search(r"^torchlint\.+Failed$", output, re.M)
    assert "train.py:3:23: TL201" in output
    assert "Found 1 problem" in output
    assert "model_pb.py" not in output and "legacy_loader.py" not in output

    bad.write_text(GOOD, encoding="utf-8")
    proc = run_hook(project, hooks, "torchlint")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Passed" in output


def test_fix_hook_fixes_the_file_and_then_passes(project: Path, hooks: Hooks) -> None:
    bad = project / "train.py"
    bad.write_text(BAD, encoding="utf-8")

    # TL201's only fix is unsafe: by default the hook leaves the file alone (and passes; the
    # check hook is the one that reports the finding).
    proc = run_hook(project, hooks, "torchlint-fix")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert bad.read_text(encoding="utf-8") == BAD

    # A project that opts in to unsafe fixes gets them applied by the hook.
    (project / "pyproject.toml").write_text(
        "[tool.torchlint]\nunsafe-fixes = true\n", encoding="utf-8"
    )
    proc = run_hook(project, hooks, "torchlint-fix")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output  # it changed a file: the commit must be looked at again
    assert "files were modified by this hook" in output
    assert "Fixed 1 problem" in output
    assert bad.read_text(encoding="utf-8") == GOOD

    proc = run_hook(project, hooks, "torchlint-fix")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Passed" in output


DEPRECATED_SCALER = "import torch\n\nscaler = torch.cuda.amp.GradScaler()\n"
CURRENT_SCALER = 'import torch\n\nscaler = torch.amp.GradScaler("cuda")\n'


def test_fix_hook_applies_safe_fixes_by_default(project: Path, hooks: Hooks) -> None:
    """No configuration: TL301's safe fix is applied, the hook fails once (files modified), the
    file is fixed, and the next run passes."""
    bad = project / "train.py"
    bad.write_text(DEPRECATED_SCALER, encoding="utf-8")

    proc = run_hook(project, hooks, "torchlint-fix")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert re.search(r"^torchlint-fix\.+Failed$", output, re.M)
    assert "files were modified by this hook" in output
    assert "Fixed 1 problem" in output
    assert bad.read_text(encoding="utf-8") == CURRENT_SCALER

    proc = run_hook(project, hooks, "torchlint-fix")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Passed" in output
    assert bad.read_text(encoding="utf-8") == CURRENT_SCALER


NOTEBOOK = ROOT / "fixtures" / "notebooks" / "TL201" / "checkpoint.ipynb"


def test_hooks_check_and_fix_a_staged_notebook(project: Path, hooks: Hooks) -> None:
    """`types_or: [python, pyi, jupyter]`: pre-commit hands the hooks `.ipynb` files."""
    notebook = project / "checkpoint.ipynb"
    shutil.copyfile(NOTEBOOK, notebook)
    (project / "pyproject.toml").write_text(
        '[tool.torchlint]\nselect = ["TL201"]\nunsafe-fixes = true\n', encoding="utf-8"
    )
    proc = run_hook(project, hooks, "torchlint")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "checkpoint.ipynb:cell 6:1:23: TL201" in output

    proc = run_hook(project, hooks, "torchlint-fix")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "files were modified by this hook" in output
    assert notebook.read_bytes() == NOTEBOOK.with_suffix(".fixed.ipynb").read_bytes()

    proc = run_hook(project, hooks, "torchlint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
