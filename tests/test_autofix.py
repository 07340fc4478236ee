"""--fix, --unsafe-fixes, --diff: fixes that never break a file."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import libcst as cst
import pytest
from test_cli import BAD, run

from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.engine import fix_source
from torchlint.fixes import AddImport, FixPlan, Replace
from torchlint.registry import all_rules
from torchlint.rule import Rule
from torchlint.sources import WriteRefused, read_source, write_source

ROOT = Path(__file__).resolve().parent.parent
FIXED = BAD.replace('torch.load("model.pt")', 'torch.load("model.pt", weights_only=True)')


def test_fix_needs_unsafe_for_unsafe_fixes(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    result = run("--fix", "a.py", cwd=tmp_path)
    assert result.exit_code == 1
    assert target.read_text() == BAD
    result = run("--fix", "--unsafe-fixes", "a.py", cwd=tmp_path)
    assert result.exit_code == 0
    assert target.read_text() == FIXED
    assert "Found 1 problem (1 fixed, 0 remaining)." in result.output


def test_unsafe_fixes_from_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nunsafe-fixes = true\n")
    (tmp_path / "a.py").write_text(BAD)
    assert run("--fix", "a.py", cwd=tmp_path).exit_code == 0
    assert (tmp_path / "a.py").read_text() == FIXED


def test_unsafe_fixes_without_fix_shows_them_as_available(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    result = run("--unsafe-fixes", "a.py", cwd=tmp_path)
    assert "TL201 [*]" in result.output
    assert "1 fixable with the `--fix` option" in result.output
    assert (tmp_path / "a.py").read_text() == BAD


def test_show_fixes_and_fix_only(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    result = run("--fix", "--unsafe-fixes", "--show-fixes", "a.py", cwd=tmp_path)
    assert "Fixed:" in result.output and "a.py:3:9: TL201 Add `weights_only=True`" in result.output
    (tmp_path / "b.py").write_text(BAD)
    result = run("--fix-only", "--unsafe-fixes", "b.py", cwd=tmp_path)
    assert result.exit_code == 0
    assert result.output == "Fixed 1 problem.\n"


def test_crlf_line_endings_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_bytes(BAD.replace("\n", "\r\n").encode())
    run("--fix", "--unsafe-fixes", "a.py", cwd=tmp_path)
    assert target.read_bytes() == FIXED.replace("\n", "\r\n").encode()


def test_bom_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_bytes(b"\xef\xbb\xbf" + BAD.encode())
    run("--fix", "--unsafe-fixes", "a.py", cwd=tmp_path)
    assert target.read_bytes() == b"\xef\xbb\xbf" + FIXED.encode()


def test_latin1_file_with_coding_cookie(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\n# Modèle: café\n" + BAD
    target = tmp_path / "a.py"
    target.write_bytes(source.encode("latin-1"))
    result = run("--fix", "--unsafe-fixes", "a.py", cwd=tmp_path)
    assert result.exit_code == 0
    expected = "# -*- coding: latin-1 -*-\n# Modèle: café\n" + FIXED
    assert target.read_bytes() == expected.encode("latin-1")


def test_executable_mode_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "train.py"
    target.write_text("#!/usr/bin/env python\n" + BAD)
    target.chmod(0o755)
    run("--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert "weights_only=True" in target.read_text()


def test_read_only_file_is_left_alone_with_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    target.chmod(0o444)
    (tmp_path / "b.py").write_text(BAD)
    result = run("--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.exit_code == 2
    assert "a.py: fixes not written: file is read-only; not modified" in result.output
    assert target.read_text() == BAD
    assert "weights_only=True" in (tmp_path / "b.py").read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o444


def test_file_changed_between_read_and_write_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_text(BAD)
    original = read_source(target)
    target.write_text(BAD + "# edited by someone else\n")
    with pytest.raises(WriteRefused, match="changed on disk"):
        write_source(original, FIXED)
    assert target.read_text().endswith("# edited by someone else\n")


def test_no_temporary_files_left_behind(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    run("--fix", "--unsafe-fixes", "a.py", cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


def test_diff_applies_with_patch_and_git_apply_and_writes_nothing(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "fixtures" / "demo", demo)
    before = {p.name: p.read_bytes() for p in demo.iterdir()}
    result = run("--diff", "--unsafe-fixes", "demo", cwd=tmp_path)
    assert result.exit_code == 1
    patch_text = result.output
    assert patch_text.startswith("--- demo/")
    assert {p.name: p.read_bytes() for p in demo.iterdir()} == before

    for tool in (["patch", "-p0", "--quiet"], ["git", "apply", "-p0"]):
        copy = tmp_path / f"copy-{tool[0]}"
        shutil.copytree(demo, copy / "demo")
        subprocess.run(tool, input=patch_text, text=True, cwd=copy, check=True)
        fixed = run("--fix", "--unsafe-fixes", "demo", cwd=tmp_path)  # reference result
        assert fixed.exit_code in (0, 1)
        for path in (tmp_path / "demo").iterdir():
            assert (copy / "demo" / path.name).read_bytes() == path.read_bytes()
        shutil.rmtree(tmp_path / "demo")
        shutil.copytree(ROOT / "fixtures" / "demo", tmp_path / "demo")


def test_demo_fix_converges_and_leaves_nothing_fixable(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "fixtures" / "demo", tmp_path / "demo")
    run("--fix", "--unsafe-fixes", "demo", cwd=tmp_path)
    again = run("--diff", "--unsafe-fixes", "demo", cwd=tmp_path)
    assert again.exit_code == 0 and again.output == ""


class _BreaksCode(Rule):
    """Test rule whose fix produces invalid syntax: the engine must drop it."""

    code = "TL990"
    name = "test-breaks-code"
    summary = "test"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) == "torch.load":
            self.report(node, "x", fix=FixPlan("break", Applicability.SAFE, (Replace(node, "(("),)))


class _NeedsImport(Rule):
    """Test rule whose fix needs ``import math``."""

    code = "TL991"
    name = "test-needs-import"
    summary = "test"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "PI_GUESS":
            self.report(
                node,
                "use math.pi",
                fix=FixPlan(
                    "Use `math.pi`",
                    Applicability.SAFE,
                    (Replace(node, "math.pi"), AddImport("math")),
                ),
            )


def test_fix_that_would_not_parse_is_dropped() -> None:
    outcome = fix_source(BAD, "a.py", [_BreaksCode, *all_rules()], unsafe=True)
    assert outcome.source == FIXED  # the good fix still applies
    assert [d.code for d in outcome.rejected] == ["TL990"]


def test_fix_adds_missing_import_once() -> None:
    source = '"""Doc."""\nfrom __future__ import annotations\n\nimport os\n\nx = PI_GUESS\ny = PI_GUESS\n'
    outcome = fix_source(source, "a.py", [_NeedsImport])
    assert outcome.source == (
        '"""Doc."""\nfrom __future__ import annotations\n\nimport math\nimport os\n\n'
        "x = math.pi\ny = math.pi\n"
    )


THREE_FINDINGS = """import torch
import torch.nn as nn

state = torch.load("model.pt")
optimizer.zero_grad(set_to_none=False)
model = nn.DataParallel(model)
model.load_state_dict(state)
"""


def test_read_only_file_reports_every_finding_of_the_file_as_it_stands(tmp_path: Path) -> None:
    """The fixes could not be written: the findings are those of the unchanged file."""
    target = tmp_path / "b.py"
    target.write_text(THREE_FINDINGS)
    target.chmod(0o444)
    result = run(
        "--no-cache", "--fix", "--unsafe-fixes", "--output-format", "concise", "b.py", cwd=tmp_path
    )
    assert result.exit_code == 2
    assert "torchlint: error: b.py: fixes not written: file is read-only" in result.stderr
    reported = [
        line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith("b.py:")
    ]
    assert reported == ["TL201", "TL107", "TL502"]
    assert "b.py:4:9: TL201 [*]" in result.stdout  # still fixable, once the file is writable
    assert "Found 3 problems (0 fixed, 3 remaining)." in result.stdout
    assert target.read_text() == THREE_FINDINGS
    # The same findings as a run that does not fix.
    check = run("--no-cache", "--output-format", "json", "b.py", cwd=tmp_path)
    failed = run(
        "--no-cache", "--fix", "--unsafe-fixes", "--output-format", "json", "b.py", cwd=tmp_path
    )
    assert failed.exit_code == 2
    assert [d["code"] for d in json.loads(failed.stdout)] == [
        d["code"] for d in json.loads(check.stdout)
    ]


def test_fix_through_a_symlink_rewrites_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "pkg" / "t.py"
    target.write_text(BAD)
    link = tmp_path / "links" / "link.py"
    link.symlink_to(Path("..") / "pkg" / "t.py")
    # Following links out of the paths given is the default off CI and needs saying on CI.
    result = run(
        "--no-cache",
        "--fix",
        "--unsafe-fixes",
        "--fix-follow-symlinks",
        "links/link.py",
        cwd=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "Found 1 problem (1 fixed, 0 remaining)." in result.output
    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "pkg", "t.py")
    assert target.read_text() == FIXED
    # The temporary file went to the target's directory and is gone.
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["t.py"]
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["link.py"]


def test_a_walk_fixes_a_file_and_its_symlink_once_under_the_files_name(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text(BAD)
    (tmp_path / "a_link.py").symlink_to("t.py")  # walked first: sorts before t.py
    listed = run("--no-cache", "--output-format", "json", ".", cwd=tmp_path)
    assert [Path(d["filename"]).name for d in json.loads(listed.output)] == ["t.py"]
    result = run("--no-cache", "--fix", "--unsafe-fixes", "--show-fixes", ".", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "Fixed:\n  t.py:3:9: TL201 Add `weights_only=True`\n\n" in result.output
    assert "a_link.py" not in result.output
    assert "Found 1 problem (1 fixed, 0 remaining)." in result.output
    assert (tmp_path / "a_link.py").is_symlink()
    assert (tmp_path / "t.py").read_text() == FIXED


def test_show_fixes_lists_the_fixes_with_fix_only(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    result = run("--no-cache", "--fix-only", "--unsafe-fixes", "--show-fixes", "a.py", cwd=tmp_path)
    assert result.exit_code == 0
    assert (
        result.output == "Fixed:\n  a.py:3:9: TL201 Add `weights_only=True`\n\nFixed 1 problem.\n"
    )


def test_fix_without_unsafe_fixes_says_how_to_enable_them(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(BAD)
    hint = "1 hidden fix can be enabled with the `--unsafe-fixes` option"
    result = run("--no-cache", "--fix", "a.py", cwd=tmp_path)
    assert result.exit_code == 1
    assert f"Found 1 problem (0 fixed, 1 remaining; {hint})." in result.output
    assert run("--no-cache", "a.py", cwd=tmp_path).output.endswith(f"Found 1 problem ({hint}).\n")
    result = run("--no-cache", "--fix-only", "a.py", cwd=tmp_path)
    assert result.output == f"Fixed 0 problems ({hint}).\n"
    assert (tmp_path / "a.py").read_text() == BAD
    # Once unsafe fixes are on, nothing is hidden.
    result = run("--no-cache", "--fix", "--unsafe-fixes", "a.py", cwd=tmp_path)
    assert "Found 1 problem (1 fixed, 0 remaining)." in result.output
