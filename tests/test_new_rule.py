"""``python -m torchlint.devtools new-rule`` on a copy of the source tree: the scaffolded rule is
registered, listed and documented, its cases pass the checks every built-in rule's cases pass, and
nothing beyond the files it creates, the rule index and the README table changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint.layout import SOURCE_ROOT, Layout

# What the rules' files need of a checkout: the package, the pages, the cases and the README.
TREE = ("torchlint", "rules", "fixtures/cases", "README.md")
NEW = ["new-rule", "stray-debug-call", "--code", "TL998", "--category", "correctness"]


def _copy_tree(target: Path) -> Path:
    for part in TREE:
        source = SOURCE_ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / part)
    return target


def _run(root: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m torchlint.devtools ARGS`` (or ``python -c CODE``) with the package of ``root``
    imported."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = ["-c", code] if code is not None else ["-m", "torchlint.devtools", *args]
    return subprocess.run(
        [sys.executable, *command], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = _copy_tree(tmp_path_factory.mktemp("tree"))
    before = _snapshot(root)
    done = _run(root, *NEW, "--summary", "A stray debug call is left in training code")
    assert done.returncode == 0, done.stderr
    return root, before


def test_creates_the_module_page_and_cases_and_regenerates_index_and_table(
    scaffolded: tuple[Path, dict[str, bytes]],
) -> None:
    root, before = scaffolded
    after = _snapshot(root)
    created = sorted(set(after) - set(before))
    assert created == [
        "fixtures/cases/TL998/not_reported.py",
        "fixtures/cases/TL998/reported.py",
        "rules/TL998.md",
        "torchlint/rules/stray_debug_call.py",
    ]
    changed = sorted(p for p in before if p in after and before[p] != after[p])
    assert changed == ["README.md", "torchlint/data/rule_index.json"]
    assert sorted(set(before) - set(after)) == []
    index = json.loads((root / "torchlint/data/rule_index.json").read_text(encoding="utf-8"))
    assert {"code": "TL998", "name": "stray-debug-call"}.items() <= next(
        e for e in index if e["code"] == "TL998"
    ).items()
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "| TL998 | `stray-debug-call` | A stray debug call is left in training code |" in readme


def test_the_new_rule_is_registered_listed_and_checked_like_a_built_in_one(
    scaffolded: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = scaffolded
    check = f"""
from torchlint.docs import code_block, doc_section, rule_doc
from torchlint.engine import lint_source
from torchlint.layout import SOURCE_TREE
from torchlint.registry import find_rule
from torchlint.testing import check_case, fixture_cases

rule = find_rule("stray-debug-call")
assert rule is not None and rule.code == "TL998", rule
assert str(SOURCE_TREE.root) == {str(root)!r}, SOURCE_TREE.root
cases = [c for c in fixture_cases(SOURCE_TREE.cases) if "TL998" in c.codes]
assert len(cases) == 2, cases
for case in cases:
    check_case(case)
page = rule_doc(rule)
example = code_block(doc_section(page, "Example"))
better = code_block(doc_section(page, "Use instead"))
assert [d.code for d in lint_source(example, "example.py", [rule]).diagnostics] == ["TL998"]
assert lint_source(better, "better.py", [rule]).diagnostics == []
print("checked")
"""
    done = _run(root, code=check)
    assert done.returncode == 0 and "checked" in done.stdout, done.stderr
    listed = _run(root, code="from torchlint.cli import main; main(['rules'])")
    assert "TL998" in listed.stdout and "stray-debug-call" in listed.stdout, listed.stderr
    # The layout test every built-in rule passes, run in the copy.
    shutil.copy2(SOURCE_ROOT / "tests" / "test_rule_layout.py", root / "test_rule_layout.py")
    layout = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_rule_layout.py",
            "-k",
            "TL998 or convention or imports_another",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert layout.returncode == 0, layout.stdout + layout.stderr
    assert " passed" in layout.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["new-rule", "missing-zero-grad", "--code", "TL997", "--category", "correctness"],
            "'missing-zero-grad' is taken",
        ),
        (
            ["new-rule", "another-rule", "--code", "TL001", "--category", "correctness"],
            "TL001 is taken",
        ),
        (
            ["new-rule", "another-rule", "--code", "TL12", "--category", "correctness"],
            "is not a rule code",
        ),
        (
            ["new-rule", "Another_Rule", "--code", "TL997", "--category", "correctness"],
            "is not a rule name",
        ),
    ],
)
def test_refuses_taken_or_malformed_codes_and_names(
    tmp_path: Path, args: list[str], message: str
) -> None:
    root = _copy_tree(tmp_path)
    before = _snapshot(root)
    done = _run(root, *args, "--root", str(root))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert _snapshot(root) == before


def test_never_overwrites_a_file(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    for part in ("torchlint/data", "torchlint/rules", "rules"):
        (tmp_path / part).mkdir(parents=True)
    layout.rule_index.write_text("[]", encoding="utf-8")
    layout.page_path("TL997").write_text("# mine\n", encoding="utf-8")
    done = _run(
        SOURCE_ROOT,
        "new-rule",
        "my-rule",
        "--code",
        "TL997",
        "--category",
        "performance",
        "--root",
        str(tmp_path),
    )
    assert done.returncode == 2 and "not overwritten" in done.stderr, done.stderr
    assert layout.page_path("TL997").read_text(encoding="utf-8") == "# mine\n"
    assert not layout.module_path("my-rule").exists()
