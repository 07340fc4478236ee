"""A newcomer's first hour (issue 19): the README's commands and install lines work as written."""

from __future__ import annotations

import json
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


def inner_pytest_env() -> dict[str, str]:
    """The environment for a pytest run inside a test: not the outer run's options (.ci/run's
    PYTEST_ADDOPTS names its JUnit report, which an inner run would overwrite)."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    return env


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


@pytest.mark.slow  # runs pytest in a subprocess
def test_readme_slow_marker_deselects_the_precommit_tests() -> None:
    """The quick command collects no test marked slow; `-m slow` collects the pre-commit tests."""

    def collected(*args: str) -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", *args],
            cwd=ROOT,
            env=inner_pytest_env(),
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


def torchlint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


NO_PYTHON = "torchlint: warning: No Python files found under the given path(s)\n"


def test_no_python_files_is_a_warning_like_ruffs(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not python\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    for target in ("notes.txt", "empty"):
        proc = torchlint("--no-cache", target, cwd=tmp_path)
        assert (proc.returncode, proc.stderr) == (0, NO_PYTHON), (target, proc.stderr)
    (tmp_path / "train.py").write_text("x = 1\n", encoding="utf-8")
    proc = torchlint("--no-cache", ".", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == "All checks passed!\n"


def test_misspelt_subcommand_is_refused_not_linted(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x = 1\n", encoding="utf-8")
    proc = torchlint("chekc", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "torchlint: error: unrecognized subcommand 'chekc'; a similar subcommand exists: 'check'\n"
    )
    assert proc.stdout == ""
    # A word that exists as a path is a path, however close to a subcommand it is.
    (tmp_path / "chekc").mkdir()
    (tmp_path / "chekc" / "model.py").write_text("x = 1\n", encoding="utf-8")
    proc = torchlint("--no-cache", "chekc", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "All checks passed!\n"), proc.stderr
    # A missing path that resembles no subcommand keeps its own error.
    proc = torchlint("--no-cache", "srcx", cwd=tmp_path)
    assert proc.returncode == 2 and "srcx: no such file or directory" in proc.stderr


def test_unknown_selector_suggests_the_rule_meant(tmp_path: Path) -> None:
    proc = torchlint("--select", "missing-zerograd", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown rule selector 'missing-zerograd'" in proc.stderr
    assert "did you mean missing-zero-grad?" in proc.stderr


def test_quiet_keeps_the_default_format_and_drops_the_summary(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\nx = torch.load(p)\n", encoding="utf-8")
    loud = torchlint("--no-cache", "train.py", cwd=tmp_path)
    quiet = torchlint("--no-cache", "-q", "train.py", cwd=tmp_path)
    assert quiet.returncode == loud.returncode == 1
    assert "Found 1 problem" in loud.stdout and "Found" not in quiet.stdout
    assert "2 | x = torch.load(p)" in quiet.stdout  # the code frame, as without -q
    assert quiet.stdout.rstrip("\n") == loud.stdout.split("\nFound")[0].rstrip("\n")


def test_unused_and_unknown_suppressions_are_reported_and_fixed(tmp_path: Path) -> None:
    source = (
        "import torch\n"
        "\n"
        "a = torch.load(p)  # noqa: TL201\n"
        "b = torch.load(p, weights_only=True)  # noqa: TL201, E501\n"
        "c = 1  # noqa: TL9999\n"
        "d = 2  # noqa: E501\n"
        "e = torch.load(p, weights_only=True)  # noqa: TL001\n"
    )
    (tmp_path / "train.py").write_text(source, encoding="utf-8")
    proc = torchlint("--no-cache", "--output-format", "concise", "train.py", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[:-1] == [
        "train.py:4:39: TL900 [*] [unused-noqa] Unused suppression `# noqa: TL201, E501` "
        "(unused: `TL201`)",
        "train.py:5:8: TL900 [*] [unused-noqa] Unused suppression `# noqa: TL9999` "
        "(unknown: `TL9999`)",
        "train.py:7:39: TL900 [*] [unused-noqa] Unused suppression `# noqa: TL001` "
        "(unused: `TL001`)",
    ]
    # A rule that did not run (not selected) is not judged; an unknown code still is.
    proc = torchlint("--no-cache", "--select", "TL2,TL900", "train.py", cwd=tmp_path)
    assert "TL001" not in proc.stdout and "TL9999" in proc.stdout
    fixed = torchlint("--no-cache", "--fix", "train.py", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (tmp_path / "train.py").read_text(encoding="utf-8") == (
        "import torch\n"
        "\n"
        "a = torch.load(p)  # noqa: TL201\n"
        "b = torch.load(p, weights_only=True)  # noqa: E501\n"
        "c = 1\n"
        "d = 2  # noqa: E501\n"
        "e = torch.load(p, weights_only=True)\n"
    )


def test_clean_outside_a_project_removes_only_its_own_cache(tmp_path: Path) -> None:
    """Run in a shared folder with other people's projects below it, `clean` removes only the
    cache of the folder it runs in, and says so; --recursive removes the others, listing each."""
    for name in ("one", "two/deeper"):
        project = tmp_path / name
        project.mkdir(parents=True)
        (project / "train.py").write_text("x = 1\n", encoding="utf-8")
        assert torchlint(".", cwd=project).returncode == 0
        assert (project / ".torchlint_cache").is_dir()
    (tmp_path / "top.py").write_text("x = 1\n", encoding="utf-8")
    assert torchlint("top.py", cwd=tmp_path).returncode == 0

    proc = torchlint("clean", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "Removed .torchlint_cache\n"), proc.stderr
    assert (tmp_path / "one" / ".torchlint_cache").is_dir()
    assert (tmp_path / "two" / "deeper" / ".torchlint_cache").is_dir()
    proc = torchlint("clean", cwd=tmp_path)
    assert proc.stdout == "No cache found.\n"

    proc = torchlint("clean", "--recursive", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == [
        "Removed one/.torchlint_cache",
        "Removed two/deeper/.torchlint_cache",
    ]
    assert not list(tmp_path.rglob(".torchlint_cache"))


def test_license_is_mit_for_torchlint_contributors() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "torchlint contributors" in text
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}


def test_verify_without_torch_says_how_to_get_it(tmp_path: Path) -> None:
    """An interpreter without torch (a bare virtual environment) is a usage error with the
    remedy, before any run: no traceback, no INCONCLUSIVE report."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    bare = tmp_path / "bare" / "bin" / "python"
    script = ROOT / "fixtures" / "train" / "small_cnn.py"
    proc = torchlint("verify", "--python", str(bare), str(script), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("torchlint: error: torch is not installed for ")
    assert "pip install torch" in proc.stderr and "--python" in proc.stderr


LIST_RULES = """
import sys
from torchlint.cli import main
try:
    main([{args}])
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = sorted(m for m in sys.modules if m == "libcst" or m.startswith("torchlint.rules."))
print(heavy, file=sys.stderr)
"""


def test_rules_listing_reads_the_index_and_imports_no_rule(tmp_path: Path) -> None:
    """`torchlint rules` answers from data/rule_index.json (as fast as a warm lint): no rule
    module and no LibCST is imported, and what it lists is what the rule classes say."""
    from torchlint.registry import all_rules

    for args in ("'rules'", "'rules', '--output-format', 'json'"):
        proc = subprocess.run(
            [sys.executable, "-c", LIST_RULES.format(args=args)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "[]\n"
    listed = json.loads(proc.stdout)
    expected = [
        {
            "code": r.code,
            "name": r.name,
            "summary": r.summary,
            "category": r.category.value,
            "severity": r.severity.value,
            "fix": r.fix_applicability.value if r.fix_applicability is not None else None,
            "preview": r.preview,
        }
        for r in all_rules()
    ]
    assert [{k: v for k, v in e.items() if k in expected[0]} for e in listed] == expected


@pytest.mark.slow  # runs pytest in a subprocess
def test_neovim_test_skips_with_its_reason_where_nvim_is_missing() -> None:
    """Without `nvim` on PATH the editor test is skipped and says why; under .ci/run's
    TORCHLINT_REQUIRE_TOOLS=1 the same absence fails it instead."""
    path = os.pathsep.join(
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not Path(d, "nvim").exists()
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
    ]
    command.append("tests/test_lsp_neovim.py")
    env = {**inner_pytest_env(), "PATH": path}
    env.pop("TORCHLINT_REQUIRE_TOOLS", None)
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout
    assert "SKIPPED" in proc.stdout and "`nvim` is not installed" in proc.stdout
    assert "apt-get install -y neovim" in proc.stdout

    env["TORCHLINT_REQUIRE_TOOLS"] = "1"
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "1 failed" in proc.stdout, proc.stdout
