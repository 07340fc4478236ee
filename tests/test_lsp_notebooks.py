"""`torchlint lsp` with a notebook open, end to end: a real server subprocess and pytest-lsp's
client sending notebook document sync as VS Code does (each cell a text document of its own)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from test_lsp import TIMEOUT, Client, apply_text_edits, session, until, workspace

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CELLS = [
    (types.NotebookCellKind.Code, "import torch\nimport torch.nn as nn\n"),
    (types.NotebookCellKind.Markup, "# Loading\nA markdown cell."),
    (types.NotebookCellKind.Code, "%matplotlib inline\n!ls -la\nmodel = nn.Linear(2, 2)"),
    (
        types.NotebookCellKind.Code,
        'model.load_state_dict(torch.load("model.pt"))\nstate = torch.load("other.pt")',
    ),
]
FIXED_CELL_4 = (
    'model.load_state_dict(torch.load("model.pt", weights_only=True))\n'
    'state = torch.load("other.pt")'
)


def cell_uri(notebook: Path, number: int) -> str:
    return f"vscode-notebook-cell:{notebook.as_posix()}#cell{number}"


def open_notebook(client: Client, notebook: Path) -> list[str]:
    uris = [cell_uri(notebook, n) for n in range(1, len(CELLS) + 1)]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=notebook.as_uri(),
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(kind=kind, document=uri)
                    for (kind, _), uri in zip(CELLS, uris, strict=True)
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(
                    uri=uri,
                    language_id="python" if kind == types.NotebookCellKind.Code else "markdown",
                    version=1,
                    text=text,
                )
                for (kind, text), uri in zip(CELLS, uris, strict=True)
            ],
        )
    )
    return uris


def latest(client: Client, uri: str, after: int = 0) -> list[types.Diagnostic] | None:
    found = None
    for params in client.published[after:]:
        if params.uri == uri:
            found = list(params.diagnostics)
    return found


@pytest.mark.asyncio
async def test_a_notebook_gets_findings_quick_fixes_and_fix_all_per_cell(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    notebook = root / "train.ipynb"
    notebook.write_text("", encoding="utf-8")
    async with session(root) as client:
        uris = open_notebook(client, notebook)
        # Cells 1 and 3 are published clean (the magics are not syntax errors); cell 4 has
        # both loads, in its own lines; the markdown cell gets nothing.
        await until(lambda: all(latest(client, uris[i]) is not None for i in (0, 2, 3)), "cells")
        assert latest(client, uris[0]) == [] and latest(client, uris[2]) == []
        assert latest(client, uris[1]) is None
        findings = latest(client, uris[3])
        assert findings is not None
        assert [(d.code, d.range.start.line, d.range.start.character) for d in findings] == [
            ("TL201", 0, 22),
            ("TL201", 1, 8),
        ]

        actions = await asyncio.wait_for(
            client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uris[3]),
                    range=findings[0].range,
                    context=types.CodeActionContext(diagnostics=[findings[0]]),
                )
            ),
            TIMEOUT,
        )
        assert actions is not None
        titles = [a.title for a in actions if isinstance(a, types.CodeAction)]
        assert "Add `weights_only=True` (unsafe)" in titles[0]
        assert "Disable TL201 for this line" in titles
        quick = actions[0]
        assert isinstance(quick, types.CodeAction) and quick.edit is not None
        (change,) = quick.edit.document_changes or []
        assert isinstance(change, types.TextDocumentEdit)
        assert change.text_document.uri == uris[3]
        assert apply_text_edits(CELLS[3][1], list(change.edits)) == FIXED_CELL_4  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_fix_all_edits_the_cells_and_changes_and_close_republish(tmp_path: Path) -> None:
    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL201"]\nunsafe-fixes = true\n')
    notebook = root / "train.ipynb"
    notebook.write_text("", encoding="utf-8")
    async with session(root) as client:
        uris = open_notebook(client, notebook)
        await until(lambda: latest(client, uris[3]), "cell 4's findings")
        actions = await asyncio.wait_for(
            client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uris[0]),
                    range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
                    context=types.CodeActionContext(
                        diagnostics=[], only=[types.CodeActionKind.SourceFixAll]
                    ),
                )
            ),
            TIMEOUT,
        )
        assert actions is not None
        (fix_all,) = actions
        assert isinstance(fix_all, types.CodeAction) and fix_all.edit is not None
        changes = fix_all.edit.document_changes or []
        assert [c.text_document.uri for c in changes] == [uris[3]]  # type: ignore[union-attr]
        assert apply_text_edits(CELLS[3][1], list(changes[0].edits)) == FIXED_CELL_4  # type: ignore[union-attr, arg-type]

        # The user applies it: cell 4 is left with the one load that has no fix.
        published = len(client.published)
        client.notebook_document_did_change(
            types.DidChangeNotebookDocumentParams(
                notebook_document=types.VersionedNotebookDocumentIdentifier(
                    uri=notebook.as_uri(), version=2
                ),
                change=types.NotebookDocumentChangeEvent(
                    cells=types.NotebookDocumentCellChanges(
                        text_content=[
                            types.NotebookDocumentCellContentChanges(
                                document=types.VersionedTextDocumentIdentifier(
                                    uri=uris[3], version=2
                                ),
                                changes=[
                                    types.TextDocumentContentChangeWholeDocument(text=FIXED_CELL_4)
                                ],
                            )
                        ]
                    )
                ),
            )
        )
        after = await until(lambda: latest(client, uris[3], published), "cell 4 republished")
        assert [(d.code, d.range.start.line) for d in after] == [("TL201", 1)]

        client.notebook_document_did_save(
            types.DidSaveNotebookDocumentParams(
                notebook_document=types.NotebookDocumentIdentifier(uri=notebook.as_uri())
            )
        )
        published = len(client.published)
        client.notebook_document_did_close(
            types.DidCloseNotebookDocumentParams(
                notebook_document=types.NotebookDocumentIdentifier(uri=notebook.as_uri()),
                cell_text_documents=[types.TextDocumentIdentifier(uri=u) for u in uris],
            )
        )
        await until(lambda: latest(client, uris[3], published) == [], "cell 4 cleared")


@pytest.mark.asyncio
async def test_a_notebook_excluded_by_the_settings_shows_nothing(tmp_path: Path) -> None:
    root = workspace(
        tmp_path, '[tool.torchlint]\nselect = ["TL201"]\nextend-exclude = ["*.ipynb"]\n'
    )
    notebook = root / "train.ipynb"
    notebook.write_text("", encoding="utf-8")
    async with session(root) as client:
        uris = open_notebook(client, notebook)
        await until(lambda: latest(client, uris[3]) is not None, "cell 4 published")
        assert latest(client, uris[3]) == []
