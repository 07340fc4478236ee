"""Fixes of parenthesised expressions: the parentheses stay as they were, never doubled.

An expression's position excludes its own parentheses, so a replacement that LibCST builds from
the node (``with_changes``) must not bring them in again: ``x = (torch.load(p))`` once became
``x = ((torch.load(p, weights_only=True)))``, and 1,000 nested parentheses became 2,000, which
crashed LibCST's native parser on the fix's own parse check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_cli import run


def test_a_parenthesised_call_keeps_its_parentheses(tmp_path: Path) -> None:
    target = tmp_path / "load.py"
    target.write_text(
        "import torch\n"
        "state = (torch.load(path))\n"
        "other = ((torch.load(path, map_location='cpu')))\n"
        "scaler = (torch.cuda.amp.GradScaler())\n"
        "model.load_state_dict(state)\n"
        "ema.load_state_dict(other)\n"
    )
    result = run("--fix", "--unsafe-fixes", "--no-cache", "load.py", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert target.read_text() == (
        "import torch\n"
        "state = (torch.load(path, weights_only=True))\n"
        "other = ((torch.load(path, map_location='cpu', weights_only=True)))\n"
        'scaler = (torch.amp.GradScaler("cuda"))\n'
        "model.load_state_dict(state)\n"
        "ema.load_state_dict(other)\n"
    )


def test_fixing_a_deeply_nested_expression_neither_crashes_nor_nests_deeper(
    tmp_path: Path,
) -> None:
    depth = 1000
    target = tmp_path / "deep.py"
    load = "(" * depth + "torch.load(p)" + ")" * depth
    target.write_text(f"import torch\nx = {load}\nmodel.load_state_dict(x)\n")
    # A subprocess: a crash of the native parser would take a test process down with it.
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "--fix", "--unsafe-fixes", "--no-cache", "deep.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # CPython itself rejects 1,000 nested parentheses: a TL000 remains (the parser bounds of
    # issue 18), and the file is linted and fixed as well, since LibCST copes with it.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TL000 [syntax-error] SyntaxError: too many nested parentheses" in result.stdout
    assert "Found 2 problems (1 fixed, 1 remaining)." in result.stdout
    expected = "(" * depth + "torch.load(p, weights_only=True)" + ")" * depth
    assert target.read_text() == f"import torch\nx = {expected}\nmodel.load_state_dict(x)\n"
