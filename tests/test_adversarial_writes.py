"""Issue 18, part A: what an adversarial review broke in writing files and reading the command
line, each as the user meets it (the command's output, exit status and the files left behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import run

# -- item 2: form feeds in indentation -------------------------------------------------------------

FORM_FEED = "import torch\n\fimport torchvision.models as models\nprint(models)\n"


def test_fix_after_a_form_feed_edits_the_right_columns(tmp_path: Path) -> None:
    path = tmp_path / "ff.py"
    path.write_bytes(FORM_FEED.encode())
    result = run("--no-cache", "--preview", "--select", "TL309", "--fix", str(path))
    assert result.exit_code == 0, result.output
    # The form feed stays; the import is rewritten whole (it once became `... import modelss`).
    assert path.read_bytes() == b"import torch\n\ffrom torchvision import models\nprint(models)\n"


def test_finding_after_a_form_feed_is_located_at_its_character(tmp_path: Path) -> None:
    path = tmp_path / "ff.py"
    path.write_bytes(b"import torch\n\f  \fx = torch.load(p)\n")
    result = run("--no-cache", "--select", "TL201", "--output-format", "concise", str(path))
    assert f"{path}:2:9: TL201" in result.output


def test_valid_code_indented_with_form_feeds_is_not_a_syntax_error(tmp_path: Path) -> None:
    source = (
        "import torch\n"
        "class A:\n"
        "    def g(self):\n"
        "  \f      x = torch.zeros(3)\n"  # CPython: indentation restarts at the form feed
        "  \f      x.require_grad = True\n"
    )
    compile(source, "a.py", "exec")
    path = tmp_path / "a.py"
    path.write_bytes(source.encode())
    result = run("--no-cache", "--select", "TL000,TL012", "--fix", str(path))
    assert "TL000" not in result.output
    assert result.exit_code == 0, result.output
    fixed = path.read_text()
    assert fixed == source.replace("require_grad", "requires_grad")
    compile(fixed, "a.py", "exec")


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_lsp_quick_fix_after_a_form_feed(tmp_path: Path) -> None:
    from test_lsp import apply_workspace_edit, code_actions, diagnostics_for, session, workspace

    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL309"]\npreview = true\n')
    text = FORM_FEED
    async with session(root) as client:
        path = root / "train.py"
        path.write_bytes(text.encode())
        uri = path.as_uri()
        from lsprotocol import types

        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        diagnostics = await diagnostics_for(client, uri, 1)
        assert [d.range.start.character for d in diagnostics] == [1]
        actions = await code_actions(client, uri, diagnostics)
        fix = next(a for a in actions if a.title.startswith("Use `from torchvision import"))
        fixed = apply_workspace_edit(text, uri, fix.edit)
        assert fixed == "import torch\n\ffrom torchvision import models\nprint(models)\n"


# -- item 1: an edit saved while --fix writes ------------------------------------------------------

# A finding with a safe fix (TL012), and what the fix makes of it.
BAD = "import torch\nx = torch.zeros(3)\nx.require_grad = True\n"
FIXED = BAD.replace("require_grad", "requires_grad")
EDITED = BAD.replace("True", "True  # the user's newer edit")


@pytest.mark.parametrize("how", ["in place", "by rename"])
def test_an_edit_saved_while_fix_writes_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    path = tmp_path / "train.py"
    path.write_text(BAD)
    real_fsync = os.fsync
    saved = []

    def editor_saves_during_fsync(fd: int) -> None:
        # An editor's autosave lands after torchlint checked the file and while it syncs the
        # fixed copy: the last moment before the rename.
        real_fsync(fd)
        if not saved:
            saved.append(True)
            if how == "in place":
                path.write_text(EDITED)
            else:
                (tmp_path / "train.py.swp").write_text(EDITED)
                os.replace(tmp_path / "train.py.swp", path)

    monkeypatch.setattr(os, "fsync", editor_saves_during_fsync)
    result = run("--no-cache", "--fix", "--unsafe-fixes", str(path))
    assert path.read_text() == EDITED
    assert "changed on disk while the fixes were being written" in result.output
    assert result.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]  # no temporary file left


# -- item 25: owner, group and hard links survive --fix -------------------------------------------


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_fix_as_root_keeps_owner_group_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text(BAD)
    os.chown(path, 1234, 5678)
    path.chmod(0o640)
    result = run("--no-cache", "--fix", "--unsafe-fixes", str(path))
    assert result.exit_code == 0, result.output
    info = path.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (1234, 5678, 0o640)
    assert path.read_text() == FIXED


def test_fix_does_not_split_hard_links(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text(BAD)
    other = tmp_path / "linked.py"
    os.link(path, other)
    result = run("--no-cache", "--fix", "--unsafe-fixes", str(path))
    assert result.exit_code == 0, result.output
    assert os.path.samefile(path, other)
    assert other.read_text() == FIXED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linked.py", "train.py"]


# -- item 23: a kill during --fix leaves no temporary files ---------------------------------------


# The signal arrives while the fixed copy is synced to disk (the longest step of a write): a
# fault injected at the system call, in the process that writes.
KILLED_WHILE_SYNCING = """
import os, signal, sys
real_fsync = os.fsync
kill_with = getattr(signal, sys.argv[1])
def fsync(fd):
    real_fsync(fd)
    os.kill(os.getpid(), kill_with)
os.fsync = fsync
sys.argv = ["torchlint", *sys.argv[2:]]
from torchlint.cli import run_cli
run_cli()
"""


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_kill_while_fix_writes_leaves_no_temporary_file(tmp_path: Path, signal_name: str) -> None:
    path = tmp_path / "train.py"
    path.write_text(BAD)
    subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_SYNCING, signal_name, "--no-cache", "--fix"]
        + ["--unsafe-fixes", "-j", "1", str(path)],
        capture_output=True,
        timeout=120,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]
    assert path.read_text() in (BAD, FIXED)


# -- items 4 and 5: `torchlint - --fix` prints code in the input's encoding, and only code ---------


def torchlint(
    *args: str, input: bytes = b"", cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args],
        input=input,
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


LATIN_1 = "# -*- coding: latin-1 -*-\nx = 'héllo'\n"


@pytest.mark.parametrize("code", [BAD, "import torch\n"], ids=["fixed", "nothing to fix"])
def test_stdin_fix_keeps_a_latin_1_file_in_latin_1(tmp_path: Path, code: str) -> None:
    data = (LATIN_1 + code).encode("latin-1")
    result = torchlint("-", "--fix", input=data, cwd=tmp_path)
    fixed = LATIN_1 + code.replace("require_grad", "requires_grad")
    assert result.stdout == fixed.encode("latin-1")


def test_stdin_fix_keeps_a_bom(tmp_path: Path) -> None:
    data = ("\ufeff" + BAD).encode()
    result = torchlint("-", "--fix", input=data, cwd=tmp_path)
    assert result.stdout == ("\ufeff" + FIXED).encode()


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF\x02\x01\x01\x00\x00\x00binary",
        "import torch\nx = torch.load(p)\n".encode("utf-16"),
        b'import torch\nx = "\xff"\n',
    ],
    ids=["binary", "utf-16", "bad utf-8"],
)
def test_stdin_fix_on_undecodable_input_echoes_it_unchanged(tmp_path: Path, data: bytes) -> None:
    result = torchlint("-", "--fix", input=data, cwd=tmp_path)
    assert result.stdout == data  # the caller replaces its text with this: never a report
    assert b"TL000" in result.stderr
    assert result.returncode == 1


# -- item 32 (part): a UTF-16 file is called UTF-16 -----------------------------------------------


def test_a_utf16_file_is_described_as_utf16(tmp_path: Path) -> None:
    (tmp_path / "wide.py").write_bytes("import torch\n".encode("utf-16"))
    (tmp_path / "wide_le.py").write_bytes("import torch\n".encode("utf-16-le"))
    result = run("--no-cache", "--output-format", "concise", str(tmp_path))
    assert result.output.count("encoded as UTF-16, which Python does not read as source") == 2
    assert "binary" not in result.output


# -- items 6, 7, 23, 24: the results cache writes only where it should, and whole -----------------

MANY_FINDINGS = "import torch\n" + "".join(f"x{i} = torch.load(p{i})\n" for i in range(8))


def test_cache_dir_naming_a_project_folder_never_marks_it(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(MANY_FINDINGS)
    result = torchlint("--cache-dir", ".", "train.py", cwd=tmp_path)
    assert result.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]
    assert b"is not a torchlint cache (it holds 'train.py'); results are not cached" in (
        result.stderr
    )


def test_a_symlinked_cache_is_not_followed(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "repo", tmp_path / "home"
    project.mkdir()
    elsewhere.mkdir()
    (project / "train.py").write_text(MANY_FINDINGS)
    (project / ".torchlint_cache").symlink_to(elsewhere, target_is_directory=True)
    result = torchlint("train.py", cwd=project)
    assert result.returncode == 1
    assert list(elsewhere.iterdir()) == []
    assert b".torchlint_cache is a symbolic link; not followed, results are not cached" in (
        result.stderr
    )


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        import resource
        import signal

        # A write past the limit fails with EFBIG, as one on a full disk fails with ENOSPC.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _cache_files(project: Path) -> list[str]:
    cache = project / ".torchlint_cache"
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


@pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX")
def test_a_full_disk_leaves_no_temporary_files_in_the_cache(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(MANY_FINDINGS)
    # Room for the markers (under 200 bytes), not for the entry (a few kilobytes).
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "train.py"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        preexec_fn=_file_size_limit(200),
    )
    assert result.returncode == 1, result.stderr
    assert [name for name in _cache_files(tmp_path) if ".tmp-" in name] == []


@pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX")
def test_cache_markers_damaged_by_a_full_disk_are_repaired(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(MANY_FINDINGS)
    subprocess.run(
        [sys.executable, "-m", "torchlint", "train.py"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        preexec_fn=_file_size_limit(0),
    )
    assert torchlint("train.py", cwd=tmp_path).returncode == 1  # the disk has room again
    cache = tmp_path / ".torchlint_cache"
    assert (
        (cache / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    assert (cache / ".gitignore").read_text().endswith("*\n")
    cleaned = torchlint("clean", cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not cache.exists()


# -- item 8: -o naming a linted file ---------------------------------------------------------------


@pytest.mark.parametrize("fix", [[], ["--fix", "--unsafe-fixes"]])
def test_output_file_naming_a_linted_file_is_refused(tmp_path: Path, fix: list[str]) -> None:
    path = tmp_path / "train.py"
    path.write_text(BAD)
    result = torchlint("--no-cache", *fix, "-o", "train.py", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert b"not writing the report to train.py: it is a file being linted" in result.stderr
    expected = BAD if not fix else FIXED
    assert path.read_text() == expected  # the source, never the report


# -- items 17, 21, 22: bad settings are config or usage errors, never internal errors or silence --


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            'exclude = ["!"]',
            "`tool.torchlint.exclude`: invalid path pattern '!'",
        ),
        (
            'extend-exclude = ["build", "!"]',
            "`tool.torchlint.extend-exclude`: invalid path pattern '!'",
        ),
        (
            "torch-version = 2.10",
            '`tool.torchlint.torch-version`: expected a string such as "2.10", got 2.1 (quote it',
        ),
        (
            'torch-version = "-1.-5"',
            "`tool.torchlint.torch-version`: expected a version such as \"2.10\", got '-1.-5'",
        ),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, config: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.torchlint]\n{config}\n")
    (tmp_path / "train.py").write_text(BAD)
    result = torchlint("--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert f"{tmp_path / 'pyproject.toml'}: {message}" in stderr
    assert "internal error" not in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exclude", "!"], "--exclude: invalid path pattern '!'"),
        (["--extend-exclude", "!"], "--extend-exclude: invalid path pattern '!'"),
        (["--select", ""], "--select: empty rule selector"),
        (["--select", " "], "--select: empty rule selector"),
        (["--extend-select", ""], "--extend-select: empty rule selector"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "train.py").write_text(BAD)
    result = run("--no-cache", *args, str(tmp_path))
    assert result.exit_code == 2
    assert f"torchlint: error: {message}" in result.output


# -- items 16, 20, 32 (part): the console entry point and its streams -----------------------------


def test_an_emoji_under_a_latin_1_terminal_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "emoji.py").write_text('import torch\nx = torch.load("😀")\n', encoding="utf-8")
    result = torchlint("--no-cache", "emoji.py", cwd=tmp_path, env={"PYTHONIOENCODING": "latin-1"})
    assert result.returncode == 1, result.stderr
    assert b'torch.load("\\U0001f600")' in result.stdout
    assert b"emoji.py:2:5: TL201" in result.stdout
    assert b"internal error" not in result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_to_a_full_device_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(BAD)
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [sys.executable, "-m", "torchlint", "--no-cache", "train.py"],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "torchlint: error: cannot write the output: No space left on device"
    )


def _blocked_reading(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as handle:
            return "pipe" in handle.read()
    except OSError:
        return False


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_saying_interrupted(tmp_path: Path) -> None:
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "torchlint", "-"],  # waits for standard input: a run in progress
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not _blocked_reading(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not os.path.exists(f"/proc/{process.pid}/wchan"):
        time.sleep(5)  # no /proc: give the interpreter time to start
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.decode().strip() == "torchlint: interrupted"


# -- items 28, 30: control characters in file names and source lines ------------------------------

ESCAPES = 'import torch\nx = torch.load("\x1b[2J\x1b]0;pwned\x07\u202e")\n'


def test_escape_sequences_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    name = "e\x1b[31mvil\r.py"
    (tmp_path / name).write_text(ESCAPES)
    result = torchlint("--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout.decode()
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out
    assert "e\\x1b[31mvil\\x0d.py:2:5: TL201" in out
    line = '2 | x = torch.load("\\x1b[2J\\x1b]0;pwned\\x07\\u202e")'
    assert line in out
    # The carets still underline the whole call, escapes included.
    carets = out.splitlines()[out.splitlines().index(f"  {line}".strip()) + 1]
    assert carets.count("^") == len('torch.load("\\x1b[2J\\x1b]0;pwned\\x07\\u202e")')


def test_control_characters_in_file_names_keep_junit_xml_valid(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    (tmp_path / "a\x01b\x1b.py").write_text("import torch\nx = torch.load(p)\n")
    result = torchlint("--no-cache", "--output-format", "junit", ".", cwd=tmp_path)
    assert result.returncode == 1
    suites = ET.fromstring(result.stdout)
    names = [case.get("name") for case in suites.iter("testcase")]
    assert names == ["TL201 torch-load-without-weights-only at a\ufffdb\ufffd.py:2:5"]


# -- item 29: --fix and symbolic links that lead out of the paths given ---------------------------


def _linked_tree(tmp_path: Path, config: str = "") -> tuple[Path, Path, Path]:
    """``repo/src/escape.py`` links to ``outside/target.py``; ``repo/src/inner.py`` to a file
    inside ``src``."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "src").mkdir(parents=True)
    outside.mkdir()
    (repo / "pyproject.toml").write_text(f"[tool.torchlint]\nunsafe-fixes = true\n{config}")
    target = outside / "target.py"
    target.write_text(BAD)
    (repo / "src" / "escape.py").symlink_to(target)
    (repo / "src" / "real.py").write_text(BAD)
    (repo / "src" / "inner.py").symlink_to(repo / "src" / "real.py")
    return repo, target, repo / "src" / "real.py"


@pytest.mark.parametrize(
    ("env", "args", "config"),
    [
        ({"CI": "true"}, [], ""),
        ({"CI": ""}, ["--no-fix-follow-symlinks"], ""),
        ({"CI": ""}, [], "fix-follow-symlinks = false\n"),
    ],
    ids=["CI=true", "option", "config"],
)
def test_fix_refuses_links_out_of_the_paths_given(
    tmp_path: Path, env: dict[str, str], args: list[str], config: str
) -> None:
    repo, target, real = _linked_tree(tmp_path, config)
    result = torchlint("--no-cache", "--fix", *args, "src", cwd=repo, env=env)
    assert target.read_text() == BAD  # outside: never written
    assert real.read_text() == FIXED  # a link inside the paths given is written through
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert f"src/escape.py: fixes not written: it leads to {target}, outside the paths given" in (
        stderr
    )


@pytest.mark.parametrize(
    ("env", "args", "config"),
    [
        ({"CI": ""}, [], ""),
        ({"CI": "true"}, ["--fix-follow-symlinks"], ""),
        ({"CI": "true"}, [], "fix-follow-symlinks = true\n"),
    ],
    ids=["default", "option", "config"],
)
def test_fix_follows_links_when_allowed(
    tmp_path: Path, env: dict[str, str], args: list[str], config: str
) -> None:
    repo, target, real = _linked_tree(tmp_path, config)
    result = torchlint("--no-cache", "--fix", *args, "src", cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == FIXED
    assert real.read_text() == FIXED
    assert (repo / "src" / "escape.py").is_symlink()


# -- fault injection: signals at random moments of a --fix run over many files --------------------


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
def test_signals_at_random_moments_of_fix_leave_whole_files_and_no_temporary_files(
    tmp_path: Path,
) -> None:
    import random
    import signal
    import time

    rng = random.Random(18)
    tree = tmp_path / "tree"
    tree.mkdir()
    for round_ in range(6):
        for index in range(40):
            (tree / f"m{index}.py").write_text(BAD * 5)
        process = subprocess.Popen(
            [sys.executable, "-m", "torchlint", "--no-cache", "--fix", "-j", "2", "."],
            cwd=tree,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a group of its own, as a terminal job or a CI step
        )
        time.sleep(rng.uniform(0.5, 4.0))
        kill = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)[round_ % 3]
        try:
            os.killpg(process.pid, kill)
        except ProcessLookupError:
            pass  # the run ended first
        process.wait(timeout=120)
        time.sleep(0.5)  # workers told by the same signal finish their last write
        for path in tree.glob("m*.py"):
            assert path.read_text() in (BAD * 5, FIXED * 5), path.name
        if kill != signal.SIGKILL:  # SIGKILL cannot wait; the window left is microseconds
            assert [p.name for p in tree.iterdir() if p.name.endswith(".torchlint")] == []
