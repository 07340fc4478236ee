"""Bad input gets a clear, located message; the run goes on with the other files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli import BAD
from test_plugins import PLUGIN_PATH

GOOD_FINDING = ("bad.py", "TL201")


def torchlint(
    *args: str, cwd: Path, unprivileged: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torchlint", *args]
    if unprivileged and os.geteuid() == 0:
        # Root reads any file through two capabilities; drop them (and keep the user, so the
        # interpreter and the checkout stay reachable wherever the clone sits, e.g. in a 0700
        # folder) so that permission bits mean what they say.
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def findings(proc: subprocess.CompletedProcess[str]) -> set[tuple[str, str]]:
    return {(Path(d["filename"]).name, d["code"]) for d in json.loads(proc.stdout)}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "bad.py").write_text(BAD)
    return tmp_path


def check_one(tree: Path, name: str, content: bytes) -> subprocess.CompletedProcess[str]:
    (tree / name).write_bytes(content)
    proc = torchlint("--output-format", "json", ".", cwd=tree)
    assert "Traceback" not in proc.stderr
    assert GOOD_FINDING in findings(proc), "the other file's finding must still be reported"
    return proc


def syntax_message(proc: subprocess.CompletedProcess[str], name: str) -> dict:
    [item] = [d for d in json.loads(proc.stdout) if Path(d["filename"]).name == name]
    assert item["code"] == "TL000" and item["name"] == "syntax-error"
    return item


def test_syntax_error(tree: Path) -> None:
    proc = check_one(tree, "broken.py", b"import torch\n\ndef f(:\n    pass\n")
    assert proc.returncode == 1
    item = syntax_message(proc, "broken.py")
    assert item["location"]["row"] == 3
    assert item["message"].startswith("SyntaxError:")


def test_python2_code(tree: Path) -> None:
    proc = check_one(tree, "old.py", b'import torch\nprint "loss", loss\n')
    assert proc.returncode == 1
    item = syntax_message(proc, "old.py")
    assert item["location"]["row"] == 2
    assert "Missing parentheses in call to 'print'" in item["message"]


def test_null_bytes(tree: Path) -> None:
    proc = check_one(tree, "nul.py", b"import torch\x00\n")
    assert proc.returncode == 1
    assert "null bytes" in syntax_message(proc, "nul.py")["message"]


def test_binary_file_named_py(tree: Path) -> None:
    proc = check_one(tree, "blob.py", bytes(range(256)) * 64)
    assert proc.returncode == 1
    assert "binary file" in syntax_message(proc, "blob.py")["message"]


def test_undecodable_bytes(tree: Path) -> None:
    proc = check_one(tree, "latin.py", b'import torch\nname = "caf\xe9"\n')
    assert proc.returncode == 1
    item = syntax_message(proc, "latin.py")
    assert "cannot decode as utf-8" in item["message"] and "on line 2" in item["message"]
    # Located where the message says: the byte itself (line 2, column 12).
    assert item["location"] == {"row": 2, "column": 12}


def test_wrong_coding_cookie(tree: Path) -> None:
    proc = check_one(tree, "cookie.py", b"# -*- coding: klingon -*-\nimport torch\n")
    assert proc.returncode == 1
    item = syntax_message(proc, "cookie.py")
    assert "unknown encoding: klingon" in item["message"]
    assert item["location"]["row"] == 1


def test_wrong_coding_cookie_on_line_two(tree: Path) -> None:
    source = b"#!/usr/bin/env python\n# -*- coding: klingon -*-\nimport torch\n"
    proc = check_one(tree, "cookie.py", source)
    assert proc.returncode == 1
    item = syntax_message(proc, "cookie.py")
    assert "invalid encoding declaration on line 2: unknown encoding: klingon" in item["message"]
    assert item["location"]["row"] == 2


def test_cookie_that_does_not_match_the_bytes(tree: Path) -> None:
    proc = check_one(tree, "ascii.py", "# coding: ascii\nname = 'café'\n".encode())
    assert proc.returncode == 1
    item = syntax_message(proc, "ascii.py")
    assert "cannot decode as ascii" in item["message"] and "on line 2" in item["message"]
    assert item["location"] == {"row": 2, "column": 12}


def test_empty_file(tree: Path) -> None:
    proc = check_one(tree, "empty.py", b"")
    assert proc.returncode == 1
    assert {n for n, _ in findings(proc)} == {"bad.py"}


def test_fifo_named_py_does_not_hang(tree: Path) -> None:
    os.mkfifo(tree / "pipe.py")
    proc = torchlint("--output-format", "json", ".", cwd=tree)
    assert proc.returncode == 2
    assert "pipe.py: not a regular file" in proc.stderr
    assert GOOD_FINDING in findings(proc)


@pytest.mark.slow  # a 50,000-line file through the CLI
def test_fifty_thousand_line_file(tree: Path) -> None:
    body = "".join(
        f"def f{i}(x):\n    y = x * {i}\n    return {'torch.load(y)' if i % 100 == 0 else 'y'}\n\n"
        for i in range(12500)
    )
    source = "import torch\n" + body
    assert source.count("\n") > 50000
    proc = check_one(tree, "generated.py", source.encode())
    rows = [
        d["location"]["row"]
        for d in json.loads(proc.stdout)
        if d["filename"].endswith("generated.py")
    ]
    assert len(rows) == 125 and rows[-1] == 2 + 4 * 12400 + 2


def test_deeply_nested_expressions(tree: Path) -> None:
    nested = "import torch\nx = " + "(" * 1000 + "torch.load(p)" + ")" * 1000 + "\n"
    unary = "import torch\ny = " + "-" * 3000 + "torch.load(p)\n"
    (tree / "unary.py").write_text(unary)
    proc = check_one(tree, "nested.py", nested.encode())
    names = {n for n, code in findings(proc) if code == "TL201"}
    assert {"nested.py", "unary.py", "bad.py"} <= names
    assert proc.returncode == 1


def test_symlink_loops(tree: Path) -> None:
    (tree / "loop_a.py").symlink_to(tree / "loop_b.py")
    (tree / "loop_b.py").symlink_to(tree / "loop_a.py")
    (tree / "sub").mkdir()
    (tree / "sub" / "again").symlink_to(tree, target_is_directory=True)
    proc = torchlint("--output-format", "json", ".", cwd=tree)
    assert proc.returncode == 2
    assert "loop_a.py: Too many levels of symbolic links" in proc.stderr
    assert GOOD_FINDING in findings(proc)


@contextlib.contextmanager
def unreadable_tree() -> Iterator[Path]:
    """bad.py (one finding), secret.py (mode 000) and locked/inside.py (locked: mode 000)."""
    # A folder of its own; the unprivileged run keeps the user, so where it sits does not matter.
    tree = Path(tempfile.mkdtemp(prefix="torchlint-perm-"))
    (tree / "bad.py").write_text(BAD)
    (tree / "secret.py").write_text(BAD)
    (tree / "locked").mkdir()
    (tree / "locked" / "inside.py").write_text(BAD)
    tree.chmod(0o755)
    (tree / "bad.py").chmod(0o644)
    (tree / "secret.py").chmod(0o000)
    (tree / "locked").chmod(0o000)
    try:
        yield tree
    finally:
        (tree / "locked").chmod(0o755)
        (tree / "secret.py").chmod(0o644)
        shutil.rmtree(tree, ignore_errors=True)


def test_unreadable_file_and_directory() -> None:
    with unreadable_tree() as tree:
        proc = torchlint("--no-cache", "--output-format", "json", ".", cwd=tree, unprivileged=True)
    assert proc.returncode == 2, proc.stderr
    assert "secret.py: permission denied" in proc.stderr
    assert "locked: permission denied" in proc.stderr
    assert findings(proc) == {GOOD_FINDING}


@pytest.mark.parametrize("named", ["secret.py", "locked", "locked/inside.py"])
def test_unreadable_path_named_on_the_command_line(named: str) -> None:
    """Not click's usage error, which lints nothing: the path's own error, and bad.py's
    finding still reported."""
    with unreadable_tree() as tree:
        proc = torchlint(
            "--no-cache", "--output-format", "json", named, "bad.py", cwd=tree, unprivileged=True
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"torchlint: error: {named}: permission denied\n"
    assert findings(proc) == {GOOD_FINDING}


def test_report_to_a_write_only_file() -> None:
    with unreadable_tree() as tree:
        (tree / "report.json").write_text("")
        (tree / "report.json").chmod(0o222)
        proc = torchlint(
            "--no-cache",
            "--output-format",
            "json",
            "-o",
            "report.json",
            "bad.py",
            cwd=tree,
            unprivileged=True,
        )
        (tree / "report.json").chmod(0o644)
        report = json.loads((tree / "report.json").read_text())
    assert proc.returncode == 1, proc.stderr
    assert [d["code"] for d in report] == ["TL201"]


def test_path_that_does_not_exist(tree: Path) -> None:
    proc = torchlint("--output-format", "json", "missing.py", "bad.py", cwd=tree)
    assert proc.returncode == 2
    assert "missing.py: no such file or directory" in proc.stderr
    assert findings(proc) == {GOOD_FINDING}


def test_only_a_missing_path_is_not_all_checks_passed(tree: Path) -> None:
    proc = torchlint("missing.py", cwd=tree)
    assert proc.returncode == 2
    assert "missing.py: no such file or directory" in proc.stderr
    assert "All checks passed!" not in proc.stdout
    assert "No problems found in what could be checked (1 error)." in proc.stdout


def test_directory_as_stdin_filename(tree: Path) -> None:
    (tree / "pkg").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "torchlint", "-", "--stdin-filename", "pkg"],
        cwd=tree,
        input=BAD,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--stdin-filename pkg is a directory" in proc.stderr


def test_crashing_rule_is_an_internal_error_and_others_still_report(tree: Path) -> None:
    (tree / "crash.py").write_text("import torch\nCRASH_HERE = torch.load(p)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), *sys.path])}
    proc = torchlint("--output-format", "json", ".", cwd=tree, env=env)
    assert proc.returncode == 2
    assert (
        "internal error in rule XPL002 on crash.py: ZeroDivisionError: "
        "this rule is broken on purpose"
    ) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert {("crash.py", "TL201"), GOOD_FINDING} <= findings(proc)


def test_file_edited_while_fixing_keeps_its_findings(tree: Path) -> None:
    """The file changed on disk between read and write: nothing is written, and the findings are
    those of the text that was read, as without --fix."""
    source = "import torch\nimport torch.nn as nn\n\nEDIT_ON_DISK_HERE = torch.load(p)\n"
    source += "model = nn.DataParallel(model)\nmodel.load_state_dict(EDIT_ON_DISK_HERE)\n"
    (tree / "edited.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), *sys.path])}
    proc = torchlint(
        "--no-cache",
        "--fix",
        "--unsafe-fixes",
        "--output-format",
        "concise",
        "edited.py",
        cwd=tree,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "torchlint: error: edited.py: fixes not written: file changed on disk since it was read"
        in proc.stderr
    )
    assert "edited.py:4:21: TL201 [*]" in proc.stdout
    assert "edited.py:5:9: TL502" in proc.stdout
    assert "Found 2 problems (0 fixed, 2 remaining)." in proc.stdout
    assert (tree / "edited.py").read_text() == source + "# edited by someone else\n"


def test_undecodable_file_is_a_syntax_error_that_can_be_ignored(tree: Path) -> None:
    proc = check_one(tree, "latin.py", b"import torch\nname = '\xe9t\xe9'\n")
    assert proc.returncode == 1
    syntax_message(proc, "latin.py")
    ignored = torchlint("--ignore", "TL000", "--output-format", "json", ".", cwd=tree)
    assert ignored.returncode == 1  # bad.py's finding
    assert findings(ignored) == {GOOD_FINDING}


# -- a worker process that dies ------------------------------------------------------------------
# The plug-in rule XPL004 kills the process linting a file that holds KILL_WORKER_HERE (SIGKILL,
# as the OOM killer does; a segfault in native code is the same to the pool).

KILLER = "import torch\n\nKILL_WORKER_HERE = torch.load(p)\n"
CRASH_MESSAGE = (
    "torchlint: error: internal error on {}: the worker linting this file "
    "crashed (signal 9, SIGKILL: killed, perhaps for lack of memory)"
)


def plugin_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), *sys.path])}


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """40 files with a finding each and, among them, one that kills its worker (with -j 2 the
    pool sends files in batches of 2: the file after it in its batch is lost with the worker)."""
    (tmp_path / "d").mkdir()
    for i in range(40):
        (tmp_path / "d" / f"f{i:02}.py").write_text(BAD)
    (tmp_path / "d" / "f09_kill.py").write_text(KILLER)
    return tmp_path


def test_dead_worker_costs_only_its_file(many: Path) -> None:
    proc = torchlint("-j", "2", "--output-format", "json", "d", cwd=many, env=plugin_env())
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(CRASH_MESSAGE.format("d/f09_kill.py")), proc.stderr
    assert "BrokenProcessPool" not in proc.stderr and "Traceback" not in proc.stderr
    assert findings(proc) == {(f"f{i:02}.py", "TL201") for i in range(40)}
    # Warm: the 40 others come from the cache, the killer alone is linted (by one worker).
    again = torchlint("-j", "2", "--output-format", "json", "d", cwd=many, env=plugin_env())
    assert (again.returncode, again.stderr, again.stdout) == (2, proc.stderr, proc.stdout)


def test_dead_worker_with_fix_reports_the_other_files_fixes(many: Path) -> None:
    proc = torchlint(
        "--no-cache",
        "-j",
        "2",
        "--fix",
        "--unsafe-fixes",
        "--output-format",
        "concise",
        "d",
        cwd=many,
        env=plugin_env(),
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(CRASH_MESSAGE.format("d/f09_kill.py")), proc.stderr
    assert "Found 40 problems (40 fixed, 0 remaining)." in proc.stdout
    for i in range(40):
        assert "weights_only=True" in (many / "d" / f"f{i:02}.py").read_text()
    assert (many / "d" / "f09_kill.py").read_text() == KILLER


def test_file_that_kills_its_process_in_a_small_run(tree: Path) -> None:
    """Two files: below the pool's threshold, but still not linted in torchlint's process."""
    (tree / "kill.py").write_text(KILLER)
    proc = torchlint("--output-format", "json", "kill.py", "bad.py", cwd=tree, env=plugin_env())
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(CRASH_MESSAGE.format("kill.py")), proc.stderr
    assert findings(proc) == {GOOD_FINDING}
