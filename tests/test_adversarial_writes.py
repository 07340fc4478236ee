"""Issue 18, part A: what an adversarial review broke in writing files and reading the command
line, each as the user meets it (the command's output, exit status and the files left behind)."""

from __future__ import annotations

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
