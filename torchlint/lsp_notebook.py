"""Notebooks in the language server: ``notebookDocument/didOpen``, ``didChange``, ``didSave`` and
``didClose``; findings published per cell; quick fixes, "disable for this line" and fix-all on
a notebook's cells.

pygls keeps each notebook and its cells' texts (the cells are text documents with URIs of their
own); this module lints the notebook's code cells as one program (:mod:`torchlint.notebook`),
publishes each cell's findings on the cell's URI, in the cell's own lines, and answers code
actions asked for on a cell. A quick fix is offered where all of its edits are in the finding's
cell; fix-all edits every cell it changes, in one workspace edit.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lsprotocol import types

from torchlint.diagnostics import Diagnostic
from torchlint.lsp_convert import (
    LineIndex,
    minimal_edit,
    quick_fixes,
    to_lsp_diagnostic,
)
from torchlint.notebook import (
    NotebookProgram,
    WriteBackError,
    build_program,
    initial_boundaries,
    move_boundaries,
)
from torchlint.notebook_json import RawCell, RawNotebook

if TYPE_CHECKING:
    from pygls.workspace import Workspace

    from torchlint.config import Settings
    from torchlint.lsp_state import ClientSettings, ConfigFiles, LintJobs


class TorchlintServer(Protocol):
    """What this module uses of the language server (torchlint.lsp.TorchlintServer), which
    imports this module."""

    @property
    def workspace(self) -> Workspace: ...
    @property
    def client(self) -> ClientSettings: ...
    @property
    def jobs(self) -> LintJobs: ...
    @property
    def config(self) -> ConfigFiles: ...

    def path_of(self, uri: str) -> Path: ...
    def settings_for(self, path: Path) -> Settings: ...
    def log(self, message: str, kind: types.MessageType = ...) -> None: ...
    def log_exception(self, where: str) -> None: ...
    def text_document_publish_diagnostics(self, params: types.PublishDiagnosticsParams) -> None: ...


SOURCE = "torchlint"
NOTEBOOK_FIX_ALL_KIND = "notebook.source.fixAll.torchlint"
SYNC_OPTIONS = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
        )
    ],
    save=True,
)


@dataclass
class CellState:
    uri: str
    number: int  # 1-based, every cell of the notebook counted
    version: int
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)  # lines of this cell
    lsp: list[types.Diagnostic] = field(default_factory=list)


@dataclass
class NotebookLint:
    version: int
    program: NotebookProgram
    settings: Settings
    cells: dict[str, CellState]  # by cell URI
    unsafe: bool


def _snapshot(
    server: TorchlintServer, uri: str
) -> tuple[int, NotebookProgram, dict[str, CellState]] | None:
    """The notebook's version, program and cells as the workspace holds them now."""
    notebook = server.workspace.get_notebook_document(notebook_uri=uri)
    if notebook is None:
        return None
    raw: list[RawCell] = []
    cells: dict[str, CellState] = {}
    for number, cell in enumerate(notebook.cells, start=1):
        document = server.workspace.get_text_document(cell.document)
        is_python = cell.kind == types.NotebookCellKind.Code and document.language_id in (
            None,
            "",
            "python",
        )
        source = document.source
        raw.append(RawCell(number, "code" if is_python else "markdown", source))
        if is_python:
            cells[cell.document] = CellState(cell.document, number, document.version or 0, source)
    program = build_program(RawNotebook("", tuple(raw), None))
    return notebook.version, program, cells


class NotebookSync:
    """The server's notebooks: what was last linted and published for each."""

    def __init__(self, server: TorchlintServer) -> None:
        self.server = server
        self.linted: dict[str, NotebookLint] = {}  # notebook URI -> last lint
        self.cell_owner: dict[str, str] = {}  # cell URI -> notebook URI
        self.pending: dict[str, asyncio.Task[None]] = {}

    # -- notifications ----------------------------------------------------------------------

    def schedule(self, uri: str, delay: float) -> None:
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        self.pending[uri] = asyncio.ensure_future(self._lint_later(uri, delay))

    def changed(self, params: types.DidChangeNotebookDocumentParams) -> None:
        cells = params.change.cells
        structure = cells.structure if cells is not None else None
        for closed in (structure.did_close or []) if structure is not None else []:
            self._clear(closed.uri)  # a deleted cell's findings go with it
        self.schedule(params.notebook_document.uri, self.server.client.debounce)

    def closed(self, params: types.DidCloseNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()
        self.linted.pop(uri, None)
        for cell in params.cell_text_documents:
            self._clear(cell.uri)

    def _clear(self, cell_uri: str) -> None:
        self.cell_owner.pop(cell_uri, None)
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[])
        )

    async def _lint_later(self, uri: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            await self.lint(uri)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.server.log_exception(f"linting notebook {uri}")
        finally:
            if self.pending.get(uri) is asyncio.current_task():
                del self.pending[uri]

    async def lint(self, uri: str) -> NotebookLint | None:
        """Lint the notebook as it is now and publish each code cell's findings."""
        snapshot = _snapshot(self.server, uri)
        if snapshot is None:
            return None
        version, program, cells = snapshot
        path = self.server.path_of(uri)
        settings = self.server.settings_for(path)
        # Excluded by the settings, as a .py file can be: its cells are published empty.
        excluded = uri.startswith("file:") and self._excluded(path)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        findings: list[Diagnostic] = []
        if not excluded:
            findings = await loop.run_in_executor(
                self.server.jobs.executor, functools.partial(_lint_program, program, path, settings)
            )
        current = _snapshot(self.server, uri)
        if current is None or current[0] != version:
            return None  # edited or closed meanwhile: a newer lint publishes
        encoding = str(self.server.workspace.position_encoding or types.PositionEncodingKind.Utf16)
        by_number = {cell.number: cell for cell in cells.values()}
        for diagnostic in findings:
            cell = by_number.get(diagnostic.cell or 0)
            if cell is not None:
                cell.diagnostics.append(diagnostic)
        for cell in cells.values():
            index = LineIndex(cell.text, encoding)
            cell.lsp = [to_lsp_diagnostic(d, index, cell.version) for d in cell.diagnostics]
            self.cell_owner[cell.uri] = uri
            self.server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=cell.uri, diagnostics=cell.lsp, version=cell.version
                )
            )
        unsafe = bool(settings.unsafe_fixes)
        linted = NotebookLint(version, program, settings, cells, unsafe)
        self.linted[uri] = linted
        if self.server.client.log_timings:
            self.server.log(
                f"torchlint: {uri} v{version}: {len(findings)} findings in "
                f"{(time.perf_counter() - started) * 1000:.1f} ms",
                types.MessageType.Log,
            )
        return linted

    def _excluded(self, path: Path) -> bool:
        try:
            return self.server.config.excluder.by_settings(path, False)
        except Exception:  # a path the settings cannot judge is linted
            return False

    # -- code actions -----------------------------------------------------------------------

    def owns(self, cell_uri: str) -> bool:
        return self.server.workspace.get_notebook_document(cell_uri=cell_uri) is not None

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        cell_uri = params.text_document.uri
        notebook = self.server.workspace.get_notebook_document(cell_uri=cell_uri)
        if notebook is None:
            return None
        linted = self.linted.get(notebook.uri)
        if linted is None or linted.version != notebook.version:
            linted = await self.lint(notebook.uri)
        if linted is None or cell_uri not in linted.cells:
            return None
        cell = linted.cells[cell_uri]
        only = params.context.only
        actions: list[types.CodeAction] = []
        if _wanted(only, types.CodeActionKind.QuickFix):
            index = LineIndex(cell.text, str(self.server.workspace.position_encoding or "utf-16"))
            for diagnostic in params.context.diagnostics:
                if diagnostic.source != SOURCE or not isinstance(diagnostic.data, dict):
                    continue
                if diagnostic.data.get("version") != cell.version:
                    continue
                fixing, silencing = quick_fixes(
                    diagnostic,
                    diagnostic.data,
                    index,
                    lambda edits: _edit({cell_uri: (cell.version, edits)}),
                )
                actions.extend(a for a in (fixing, silencing) if a is not None)
        for kind in (types.CodeActionKind.SourceFixAll.value, NOTEBOOK_FIX_ALL_KIND):
            if only is not None and _wanted(only, kind):
                action = await self.fix_all(notebook.uri, linted, kind)
                if action is not None:
                    actions.append(action)
                break
        return actions

    async def fix_all(self, uri: str, linted: NotebookLint, kind: str) -> types.CodeAction | None:
        """Every applicable fix of the notebook, as edits of the cells they change."""
        path = self.server.path_of(uri)
        loop = asyncio.get_running_loop()
        sources = await loop.run_in_executor(
            self.server.jobs.executor,
            functools.partial(_fixed_sources, linted.program, path, linted.settings, linted.unsafe),
        )
        if not sources:
            return None
        encoding = str(self.server.workspace.position_encoding or types.PositionEncodingKind.Utf16)
        changes: dict[str, tuple[int, list[types.TextEdit]]] = {}
        for cell in linted.cells.values():
            new = sources.get(cell.number)
            if new is None or new == cell.text:
                continue
            edit = minimal_edit(cell.text, new, encoding)
            if edit is not None:
                changes[cell.uri] = (cell.version, [edit])
        if not changes:
            return None
        title = "torchlint: fix all auto-fixable problems in the notebook"
        if linted.unsafe:
            title += " (unsafe fixes included)"
        return types.CodeAction(title=title, kind=kind, edit=_edit(changes))


def _wanted(only: Sequence[str] | None, kind: str) -> bool:
    """Whether the client asked for actions of ``kind`` (no ``only``: quick fixes)."""
    if only is None:
        return kind == types.CodeActionKind.QuickFix
    return any(kind == str(wanted) or kind.startswith(f"{wanted}.") for wanted in only)


def _edit(changes: dict[str, tuple[int, list[types.TextEdit]]]) -> types.WorkspaceEdit:
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=version
                ),
                edits=edits,
            )
            for uri, (version, edits) in changes.items()
        ]
    )


def _lint_program(program: NotebookProgram, path: Any, settings: Settings) -> list[Diagnostic]:
    """On the worker thread: the program's findings, located by cell; a fix that reaches into
    another cell is left to fix-all."""
    from dataclasses import replace

    from torchlint.runner import RunMode, process_source

    if not program.source.strip():
        return []
    result = process_source(program.source, str(path), settings, RunMode(), rules_path=path)
    out = []
    for diagnostic in result.diagnostics:
        if not program.edits_in_cell(diagnostic):
            diagnostic = replace(diagnostic, fix=None)
        out.append(program.to_cells(diagnostic))
    return out


def _fixed_sources(
    program: NotebookProgram, path: Any, settings: Settings, unsafe: bool
) -> dict[int, str]:
    """On the worker thread: each cell's source after every applicable fix ({} if none)."""
    from torchlint.engine import fix_source
    from torchlint.project_index import shared_index

    if not program.source.strip():
        return {}
    outcome = fix_source(
        program.source,
        str(path),
        settings.rules_for(path),
        unsafe=unsafe,
        torch_version=settings.torch_version,
        rule_options=settings.options,
        test_code=settings.is_test_code(path),
        project=shared_index(settings.src_roots),
    )
    if outcome.source == program.source:
        return {}
    boundaries = initial_boundaries(program)
    try:
        for step in outcome.passes:
            edits = [e for d in step.applied if d.fix is not None for e in d.fix.edits]
            if edits:
                boundaries = move_boundaries(boundaries, step.source, edits)
        return program.fixed_sources(outcome.source, boundaries)
    except WriteBackError:
        return {}
