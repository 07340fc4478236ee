"""Issue 18, part A: what an adversarial review broke in writing files and reading the command
line, each as the user meets it (the command's output, exit status and the files left behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import run

# -- item 2: form feeds in indentation -------------------------------------------------------------

FORM_FEED = "import torch\n\fimport torchvision.models as models\nprint(models)\n"


def test_fix_after_a_form_feed_edits_the_right_columns(tmp_path: Path) -> None:
    path = tmp_path / "ff.py"
    path.write_bytes(FORM_FEED.encode())
    result = run("--no-cache", "--fix", str(path))
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
        "  \f      return torch.load(p)\n"  # CPython: indentation restarts at the form feed
    )
    compile(source, "a.py", "exec")
    path = tmp_path / "a.py"
    path.write_bytes(source.encode())
    result = run("--no-cache", "--select", "TL000,TL201", "--unsafe-fixes", "--fix", str(path))
    assert "TL000" not in result.output
    assert result.exit_code == 0, result.output
    fixed = path.read_text()
    assert fixed == source.replace("load(p)", "load(p, weights_only=True)")
    compile(fixed, "a.py", "exec")


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_lsp_quick_fix_after_a_form_feed(tmp_path: Path) -> None:
    from test_lsp import apply_workspace_edit, code_actions, diagnostics_for, session, workspace

    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL309"]\n')
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

UNSAFE_BAD = "import torch\nx = torch.load(p)\n"
EDITED = "import torch\nx = torch.load(p)  # the user's newer edit\n"


@pytest.mark.parametrize("how", ["in place", "by rename"])
def test_an_edit_saved_while_fix_writes_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    path = tmp_path / "train.py"
    path.write_text(UNSAFE_BAD)
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
    path.write_text(UNSAFE_BAD)
    os.chown(path, 1234, 5678)
    path.chmod(0o640)
    result = run("--no-cache", "--fix", "--unsafe-fixes", str(path))
    assert result.exit_code == 0, result.output
    info = path.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (1234, 5678, 0o640)
    assert "weights_only=True" in path.read_text()


def test_fix_does_not_split_hard_links(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text(UNSAFE_BAD)
    other = tmp_path / "linked.py"
    os.link(path, other)
    result = run("--no-cache", "--fix", "--unsafe-fixes", str(path))
    assert result.exit_code == 0, result.output
    assert os.path.samefile(path, other)
    assert other.read_text() == "import torch\nx = torch.load(p, weights_only=True)\n"
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
    path.write_text(UNSAFE_BAD)
    subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_SYNCING, signal_name, "--no-cache", "--fix"]
        + ["--unsafe-fixes", "-j", "1", str(path)],
        capture_output=True,
        timeout=120,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]
    assert path.read_text() in (UNSAFE_BAD, UNSAFE_BAD.replace("(p)", "(p, weights_only=True)"))
