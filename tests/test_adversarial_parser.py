"""Issue 18, part B: input shaped to crash or stall the parser is reported at once (items 12,
13, 32). CPython's parser screens every text before LibCST's native one, which a few thousand
nested brackets crash and long operator chains stall for minutes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def torchlint(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # The timeout is the test: before the screen these ran for minutes or crashed.
    return subprocess.run(
        [sys.executable, "-m", "torchlint", "--no-cache", "--output-format", "json", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def messages(proc: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    return [(d["code"], d["message"]) for d in json.loads(proc.stdout)]


def test_two_thousand_nested_brackets_on_stdin(tmp_path: Path) -> None:
    """Item 13: the native parser segfaulted (exit 139, no output)."""
    source = "x = " + "[" * 2000 + "]" * 2000 + "\n"
    proc = torchlint("-", "--stdin-filename", "deep.py", cwd=tmp_path, stdin=source)
    assert proc.returncode == 1, proc.stderr
    assert messages(proc) == [("TL000", "SyntaxError: too many nested parentheses")]


def test_five_hundred_nested_parentheses_are_not_clean(tmp_path: Path) -> None:
    """Item 32: CPython rejects the file, LibCST accepted it: it was reported clean."""
    (tmp_path / "deep.py").write_text("x = " + "(" * 500 + "a" + ")" * 500 + "\n")
    proc = torchlint("deep.py", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert messages(proc) == [("TL000", "SyntaxError: too many nested parentheses")]


def test_ten_thousand_term_operator_chain(tmp_path: Path) -> None:
    """Item 12: 106 s in the parser, then a segfault; CPython refuses it too."""
    (tmp_path / "chain.py").write_text("x = " + " + ".join(["a"] * 10_000) + "\n")
    (tmp_path / "ok.py").write_text("import torch\nm = torch.load(p)\n")
    proc = torchlint("chain.py", "ok.py", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    found = {(Path(d["filename"]).name, d["code"]) for d in json.loads(proc.stdout)}
    assert found == {("chain.py", "TL000"), ("ok.py", "TL201")}
    assert "nested too deeply" in proc.stdout


def test_operator_chain_cpython_accepts_is_refused_by_depth(tmp_path: Path) -> None:
    """2,500 terms: CPython parses it; LibCST's time grows with the square of the depth. (A
    file no rule can match is never given to LibCST: the import makes this one a candidate.)"""
    (tmp_path / "chain.py").write_text("import torch\nx = " + " + ".join(["a"] * 2500) + "\n")
    proc = torchlint("chain.py", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    [(code, message)] = messages(proc)
    assert code == "TL000"
    assert message.startswith("file not analysed: its code is nested 2502 levels deep")


def test_megabyte_line_is_refused(tmp_path: Path) -> None:
    """Item 12: an 8 MB one-line file ran past 300 s."""
    (tmp_path / "blob.py").write_text("x = [" + ",".join(["1"] * 600_000) + "]\n")
    proc = torchlint("blob.py", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    [(code, message)] = messages(proc)
    assert code == "TL000"
    assert message.startswith("file not analysed: line 1 is 1,200,005 characters long")
