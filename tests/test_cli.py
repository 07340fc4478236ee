"""The `torchlint` command as a user runs it: output, exit codes, options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"

# The load's result goes only into `load_state_dict`: the one case TL201 offers its fix for.
BAD = """import torch

state = torch.load("model.pt")
model.load_state_dict(state)
"""
CLEAN = """import torch

state = torch.load("model.pt", weights_only=True)
"""


def run(*args: str, input: str | bytes | None = None, cwd: Path | None = None):
    runner = CliRunner()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path


def test_demo_reports_all_seven_mission_rules() -> None:
    result = run("--output-format", "json", str(DEMO))
    assert result.exit_code == 1
    codes = {d["code"] for d in json.loads(result.output)}
    assert {"TL001", "TL002", "TL101", "TL102", "TL201", "TL501", "TL502"} <= codes


def test_text_output_has_location_snippet_hint_and_summary(project: Path) -> None:
    result = run("bad.py", cwd=project)
    assert result.exit_code == 1
    out = result.output
    assert "bad.py:3:9: TL201 [torch-load-without-weights-only]" in out
    assert '3 | state = torch.load("model.pt")' in out
    assert "^" * len('torch.load("model.pt")') in out
    assert "help: Add `weights_only=True` (unsafe fix)" in out
    assert "Found 1 problem (1 hidden fix can be enabled with the `--unsafe-fixes` option)." in out


def test_check_is_the_default_command(project: Path) -> None:
    assert run("check", "bad.py", cwd=project).output == run("bad.py", cwd=project).output


def test_clean_file_exits_zero(project: Path) -> None:
    result = run("clean.py", cwd=project)
    assert result.exit_code == 0
    assert result.output.strip() == "All checks passed!"


def test_exit_zero(project: Path) -> None:
    assert run("--exit-zero", "bad.py", cwd=project).exit_code == 0


def test_json_output_has_ruff_fields(project: Path) -> None:
    result = run("--output-format", "json", "bad.py", cwd=project)
    [item] = json.loads(result.output)
    assert set(item) >= {
        "code",
        "message",
        "filename",
        "location",
        "end_location",
        "fix",
        "url",
        "noqa_row",
        "name",
        "severity",
    }
    assert item["code"] == "TL201"
    assert item["location"] == {"row": 3, "column": 9}
    assert item["end_location"] == {"row": 3, "column": 31}
    assert item["fix"]["applicability"] == "unsafe"
    assert item["fix"]["edits"][0]["content"] == 'torch.load("model.pt", weights_only=True)'
    assert Path(item["filename"]).is_absolute()


def test_json_output_of_the_fixtures_directory_parses() -> None:
    # --no-cache: a test writes nothing into the repository (fixtures/projects/ has projects of
    # its own, whose caches would go there).
    result = run("--output-format", "json", "--no-cache", str(ROOT / "fixtures"))
    data = json.loads(result.output)
    assert data and all({"code", "location", "fix", "filename"} <= set(d) for d in data)


def test_select_ignore_and_prefixes(project: Path) -> None:
    assert run("--select", "TL0", "bad.py", cwd=project).exit_code == 0
    assert run("--select", "TL2", "bad.py", cwd=project).exit_code == 1
    assert run("--select", "torch-load-without-weights-only", "bad.py", cwd=project).exit_code == 1
    assert run("--ignore", "TL201", "bad.py", cwd=project).exit_code == 0
    assert run("--ignore", "TL2", "--extend-select", "TL201", "bad.py", cwd=project).exit_code == 0


def test_unknown_selector_is_a_usage_error(project: Path) -> None:
    result = run("--select", "TL9999", "bad.py", cwd=project)
    assert result.exit_code == 2
    assert "unknown rule selector 'TL9999'" in result.output


def test_statistics(project: Path) -> None:
    (project / "bad2.py").write_text(BAD + BAD.replace("import torch\n", ""))
    result = run("--statistics", ".", cwd=project)
    assert result.exit_code == 1
    assert "3\tTL201\t[ ] torch-load-without-weights-only" in result.output


def test_quiet_prints_findings_only(project: Path) -> None:
    assert run("-q", "clean.py", cwd=project).output == ""
    assert "TL201" in run("-q", "bad.py", cwd=project).output


def test_output_file(project: Path) -> None:
    result = run("--output-format", "json", "-o", "out/report.json", "bad.py", cwd=project)
    assert result.exit_code == 1
    assert result.output == ""
    assert json.loads((project / "out" / "report.json").read_text())[0]["code"] == "TL201"


def test_stdin_with_filename(project: Path) -> None:
    result = run("-", "--stdin-filename", "pkg/loader.py", input=BAD, cwd=project)
    assert result.exit_code == 1
    assert "pkg/loader.py:3:9: TL201" in result.output


def test_stdin_fix_prints_fixed_code(project: Path) -> None:
    result = run("--fix", "--unsafe-fixes", "-", input=BAD, cwd=project)
    assert result.exit_code == 0
    assert 'torch.load("model.pt", weights_only=True)' in result.stdout


def test_syntax_error_is_a_finding_and_other_files_are_linted(project: Path) -> None:
    (project / "broken.py").write_text("def f(:\n    pass\n")
    result = run("--output-format", "json", ".", cwd=project)
    assert result.exit_code == 1
    found = {(Path(d["filename"]).name, d["code"]) for d in json.loads(result.output)}
    assert ("broken.py", "TL000") in found
    assert ("bad.py", "TL201") in found
    assert "Traceback" not in result.output


def test_missing_path_is_reported_and_others_still_linted(project: Path) -> None:
    result = run("nope.py", "bad.py", cwd=project)
    assert result.exit_code == 2
    assert "nope.py: no such file or directory" in result.output
    assert "bad.py:3:9: TL201" in result.output


def test_rules_table_and_json() -> None:
    table = run("rules").output
    assert "TL001" in table and "missing-zero-grad" in table
    data = json.loads(run("rules", "--output-format", "json").output)
    assert {r["code"] for r in data} >= {
        "TL001",
        "TL002",
        "TL101",
        "TL102",
        "TL201",
        "TL501",
        "TL502",
    }
    assert set(data[0]) == {
        "code",
        "name",
        "summary",
        "category",
        "severity",
        "precision",
        "fix",
        "preview",
    }


def test_rule_doc_by_code_and_name() -> None:
    by_code = run("rule", "TL201")
    assert by_code.exit_code == 0
    assert by_code.output.startswith("# TL201 torch-load-without-weights-only")
    assert "## Why is this bad?" in by_code.output
    assert run("rule", "torch-load-without-weights-only").output == by_code.output
    missing = run("rule", "TL9999")
    assert missing.exit_code == 2 and "unknown rule" in missing.output


def test_no_color_when_not_a_terminal(project: Path) -> None:
    assert "\x1b[" not in run("bad.py", cwd=project).output


def test_installed_console_script(project: Path) -> None:
    """The real entry point, in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "torchlint", "bad.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "bad.py:3:9: TL201" in proc.stdout
    version = subprocess.run(
        [sys.executable, "-m", "torchlint", "--version"], capture_output=True, text=True
    )
    assert version.stdout.startswith("torchlint, version")


def test_cuda_with_a_device_index_names_that_device_and_offers_no_fix(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import torch\n\n\ndef noise(rank):\n    return torch.rand(10, 10).cuda(rank)\n"
    )
    result = run("--output-format", "json", "--unsafe-fixes", "a.py", cwd=tmp_path)
    [finding] = json.loads(result.output)
    assert finding["code"] == "TL103"
    assert "pass `device=` with the device that `.cuda(rank)` selects" in finding["message"]
    assert finding["fix"] is None


# -- torchlint clean ------------------------------------------------------------------------------


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    """A project with a torchlint config at its root, a bad file in a subdirectory."""
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "bad.py").write_text(BAD)
    return tmp_path


def test_clean_from_a_subdirectory_removes_the_project_roots_cache(configured: Path) -> None:
    sub = configured / "pkg" / "sub"
    assert run("bad.py", cwd=sub).exit_code == 1
    cache = configured / ".torchlint_cache"
    assert cache.is_dir()  # a run from the subdirectory caches at the project root
    result = run("clean", cwd=sub)
    assert result.exit_code == 0, result.output
    assert f"Removed {cache}" in result.output
    assert not cache.exists()
    assert (sub / "bad.py").read_text() == BAD
    assert run("clean", cwd=sub).output == "No cache found.\n"


def test_clean_cache_dir_removes_a_custom_cache(
    configured: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    custom = tmp_path_factory.mktemp("elsewhere") / "lint-cache"
    assert run("--cache-dir", str(custom), ".", cwd=configured).exit_code == 1
    assert list(custom.rglob("*.json"))
    result = run("clean", "--cache-dir", str(custom), cwd=configured)
    assert result.exit_code == 0, result.output
    assert result.output == f"Removed {custom}\n"
    assert not custom.exists()
    assert run("clean", "--cache-dir", str(custom), cwd=configured).output == "No cache found.\n"


def test_clean_cache_dir_never_removes_a_directory_that_is_not_only_a_cache(
    configured: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    plain = tmp_path_factory.mktemp("plain")
    (plain / "notes.txt").write_text("keep me\n")
    result = run("clean", "--cache-dir", str(plain), cwd=configured)
    assert result.exit_code == 2
    assert "does not look like a torchlint cache" in result.stderr
    assert "Removed" not in result.output
    assert (plain / "notes.txt").read_text() == "keep me\n"
    # The project itself used as the cache directory by mistake: it is never marked as a cache
    # (issue 18: that would git-ignore it and hide it from backups), and nothing is deleted.
    assert run("--cache-dir", ".", ".", cwd=configured).exit_code == 1
    assert not (configured / "CACHEDIR.TAG").exists()
    assert not (configured / ".gitignore").exists()
    result = run("clean", "--cache-dir", ".", cwd=configured)
    assert result.exit_code == 2 and "Removed" not in result.output
    assert (configured / "pkg" / "sub" / "bad.py").read_text() == BAD
    assert (configured / "pyproject.toml").is_file()


BROKEN = "import torch\n\ndef f(:\n    pass\n"


def _codes_in(result) -> list[tuple[str, str]]:  # noqa: ANN001
    return sorted((Path(d["filename"]).name, d["code"]) for d in json.loads(result.stdout))


def test_syntax_error_rule_is_documented_and_listed() -> None:
    doc = run("rule", "TL000")
    assert doc.exit_code == 0, doc.output
    assert doc.output.startswith("# TL000 syntax-error\n")
    assert "## What it does" in doc.output
    assert run("rule", "syntax-error").output == doc.output
    table = run("rules").output.splitlines()
    assert any(line.split()[:2] == ["TL000", "syntax-error"] for line in table)
    listed = {r["code"]: r for r in json.loads(run("rules", "--output-format", "json").output)}
    assert listed["TL000"]["name"] == "syntax-error" and listed["TL000"]["fix"] is None


def test_syntax_error_can_be_ignored_by_code_or_name(project: Path) -> None:
    (project / "broken.py").write_text(BROKEN)
    for selector in ("TL000", "syntax-error", "TL201,TL000"):
        result = run("--ignore", selector, "--output-format", "json", ".", cwd=project)
        assert result.exit_code in (0, 1), result.output
        assert ("broken.py", "TL000") not in _codes_in(result), selector
    result = run("--ignore", "TL000", "--ignore", "TL201", "broken.py", cwd=project)
    assert result.exit_code == 0
    assert result.output == "All checks passed!\n"


def test_syntax_error_is_reported_whatever_the_selection(project: Path) -> None:
    """Only naming TL000 turns it off: select, prefixes and ALL do not hide a broken file."""
    (project / "broken.py").write_text(BROKEN)
    for args in (
        ("--select", "TL201"),
        ("--select", "TL1"),
        ("--ignore", "TL0"),
        ("--ignore", "ALL"),
        ("--select", "TL000"),
    ):
        result = run(*args, "--output-format", "json", "broken.py", cwd=project)
        assert result.exit_code == 1, args
        assert _codes_in(result) == [("broken.py", "TL000")], args


def test_syntax_error_noqa_must_name_it(project: Path) -> None:
    (project / "named.py").write_text("def f(:  # noqa: TL000\n    pass\n")
    (project / "by_name.py").write_text("def f(:  # torchlint: ignore[syntax-error]\n    pass\n")
    (project / "blanket.py").write_text("def f(:  # noqa\n    pass\n")
    (project / "elsewhere.py").write_text("# noqa: TL000\ndef f(:\n    pass\n")
    result = run("--output-format", "json", "--select", "TL0", ".", cwd=project)
    assert _codes_in(result) == [("blanket.py", "TL000"), ("elsewhere.py", "TL000")]


def test_syntax_error_ignored_on_stdin(project: Path) -> None:
    assert run("-", input=BROKEN, cwd=project).exit_code == 1
    result = run("--ignore", "TL000", "-", input=BROKEN, cwd=project)
    assert result.exit_code == 0
    assert result.output == "All checks passed!\n"


def test_syntax_error_ignore_holds_with_the_cache(project: Path) -> None:
    (project / "broken.py").write_text(BROKEN)
    for _ in range(2):  # a cold run, then one answered from the cache
        assert run("broken.py", cwd=project).exit_code == 1
        assert run("--ignore", "TL000", "broken.py", cwd=project).exit_code == 0


def test_each_bad_path_named_on_the_command_line_gets_its_own_error(project: Path) -> None:
    (project / "loop_a.py").symlink_to(project / "loop_b.py")
    (project / "loop_b.py").symlink_to(project / "loop_a.py")
    (project / "dangling.py").symlink_to(project / "nowhere.py")
    os.mkfifo(project / "pipe.py")
    names = ("bad.py/x.py", "loop_a.py", "dangling.py", "pipe.py")
    result = run("--output-format", "concise", *names, "bad.py", cwd=project)
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if "error:" in line] == [
        "torchlint: error: bad.py/x.py: no such file or directory",
        "torchlint: error: loop_a.py: Too many levels of symbolic links",
        "torchlint: error: dangling.py: broken symbolic link",
        "torchlint: error: pipe.py: not a regular file or directory",
    ]
    assert "bad.py:3:9: TL201" in result.output
