"""Lint or fix a notebook's text: the layer the runner, the CLI, verify and the language server
call for ``.ipynb`` files, over :mod:`torchlint.notebook`.

The code cells are linted as one program (see :mod:`torchlint.notebook`); findings come back
located by cell (``Diagnostic.cell``, lines counted from the cell's first line); a fix run gives
the notebook's new JSON text, in which only the changed cells' ``source`` differs. A file that is
not a notebook torchlint can read (invalid JSON, nbformat 3) is one TL000 finding, at the place
in the file that the JSON parser names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from torchlint.diagnostics import (
    Diagnostic,
    FileResult,
    FixOutcome,
    LintOutcome,
    Position,
    syntax_error,
)
from torchlint.notebook import (
    NotebookProgram,
    WriteBackError,
    initial_boundaries,
    move_boundaries,
    read_program,
)
from torchlint.notebook_json import NotebookError, RawNotebook, read_notebook, stored_position
from torchlint.notebook_magics import LINE_PLACEHOLDER

if TYPE_CHECKING:
    from torchlint.config import Settings

# Applies the user's TL000 choices (``ignore``, a noqa comment naming TL000) to a result whose
# ``original`` is the text its findings' lines count in: the runner's policy, passed in.
SyntaxPolicy = Callable[[FileResult, "Settings", Path], FileResult]


@dataclass(frozen=True)
class ProgramMode:
    """What a run does with a notebook: lint, or fix (``unsafe`` fixes too)."""

    fix: bool
    unsafe: bool


def process_notebook_text(
    text: str,
    display: str,
    settings: Settings,
    mode: ProgramMode,
    rules_path: Path,
    syntax_policy: SyntaxPolicy,
) -> FileResult:
    """Lint (or, with ``mode.fix``, fix) notebook ``text``; ``result.fixed`` is the new JSON
    text when fixes changed it, ``result.original`` the text read."""
    try:
        program = read_program(text)
    except NotebookError as exc:
        finding = syntax_error(display, str(exc), exc.line, exc.column)
        unreadable = FileResult(path=display, diagnostics=[finding], original=text)
        return syntax_policy(unreadable, settings, rules_path)
    result = FileResult(path=display, original=text)
    if not program.is_python or not program.source.strip():
        return result  # nothing to lint: another kernel's language, or no code
    from torchlint.engine import fix_source, lint_source
    from torchlint.project_index import shared_index

    rules = settings.rules_for(rules_path)
    test_code = settings.is_test_code(rules_path)
    # The project's other files, for rules that look at what the notebook imports from them.
    project = shared_index(settings.src_roots)

    def lint(source: str) -> LintOutcome:
        return lint_source(
            source,
            display,
            rules,
            torch_version=settings.torch_version,
            rule_options=settings.options,
            test_code=test_code,
            project=project,
        )

    final = program
    if mode.fix:
        outcome = fix_source(
            program.source,
            display,
            rules,
            unsafe=mode.unsafe,
            torch_version=settings.torch_version,
            rule_options=settings.options,
            test_code=test_code,
            project=project,
        )
        try:
            new_text = _written_back(program, outcome)
        except (WriteBackError, NotebookError) as exc:
            result.warnings.append(f"fixes not applied: {exc}")
            new_text = text
        if new_text != text:
            result.fixed = new_text
            result.applied = [program.to_cells(d) for d in outcome.applied]
            final = read_program(new_text)
        remaining = outcome.remaining  # the lint of outcome.source
        if final.source != outcome.source:  # fixes not written back, or read back otherwise
            remaining = lint(final.source)
        result.warnings += _fix_warnings(program, outcome)
    else:
        remaining = lint(program.source)
    in_program = FileResult(path=display, diagnostics=remaining.diagnostics, original=final.source)
    in_program = syntax_policy(in_program, settings, rules_path)
    result.diagnostics = located(final, in_program.diagnostics)
    result.internal_errors = list(remaining.internal_errors)
    return result


def located(program: NotebookProgram, diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    """``diagnostics`` (program lines) located by cell, in cell order."""
    out = [program.to_cells(d) for d in diagnostics]
    return sorted(out, key=lambda d: d.sort_key)


def _written_back(program: NotebookProgram, outcome: FixOutcome) -> str:
    if outcome.source == program.source:
        return program.notebook.text
    boundaries = initial_boundaries(program)
    for step in outcome.passes:
        edits = [e for d in step.applied if d.fix is not None for e in d.fix.edits]
        if edits:
            boundaries = move_boundaries(boundaries, step.source, edits)
    return program.write_back(outcome.source, boundaries)


def _fix_warnings(program: NotebookProgram, outcome: FixOutcome) -> list[str]:
    warnings: list[str] = []
    if not outcome.converged:
        warnings.append(
            f"fixes did not converge after {len(outcome.applied)} edits; "
            "some findings are left for a later run"
        )
    for rejected in outcome.rejected:
        where = program.to_cells(rejected)
        warnings.append(
            f"{rejected.code} fix at cell {where.cell}, line {where.start.line} was not applied: "
            "the result would not parse"
        )
    return warnings


# -- what reporters show ------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _read(text: str) -> RawNotebook | None:
    try:
        return read_notebook(text)
    except NotebookError:
        return None


def _cell_sources(text: str) -> tuple[str, ...]:
    notebook = _read(text)
    return tuple(cell.source for cell in notebook.cells) if notebook is not None else ()


def as_stored(diagnostic: Diagnostic, notebook_text: str | None) -> Diagnostic:
    """A finding located by cell, moved to where its code is stored in the notebook's file (for
    SARIF and the CI formats, which place findings on the file's lines): the message starts with
    the cell and line, and its fix (in cell lines) is left out."""
    notebook = _read(notebook_text) if notebook_text is not None else None
    number = diagnostic.cell
    if notebook is None or number is None or not 0 < number <= len(notebook.cells):
        return diagnostic
    cell = notebook.cells[number - 1]
    try:
        notebook.span(cell)
    except NotebookError:
        return diagnostic
    start = Position(
        *stored_position(notebook, cell, diagnostic.start.line, diagnostic.start.column)
    )
    end = Position(*stored_position(notebook, cell, diagnostic.end.line, diagnostic.end.column))
    if end < start:
        end = start
    where = f"cell {number}, line {diagnostic.start.line}: "
    return replace(diagnostic, start=start, end=end, message=where + diagnostic.message, fix=None)


def cell_source(notebook_text: str | None, cell: int) -> str | None:
    """The source of cell ``cell`` (1-based) of a notebook's text, for a finding's snippet."""
    if notebook_text is None:
        return None
    sources = _cell_sources(notebook_text)
    return sources[cell - 1] if 0 < cell <= len(sources) else None


def notebook_diff(path: str, original: str, fixed: str) -> str:
    """A unified diff per changed cell, headed ``path:cell N`` (the JSON's own diff would show
    escaped strings)."""
    try:
        before = read_notebook(original).cells
        after = read_notebook(fixed).cells
    except NotebookError:
        return ""
    out: list[str] = []
    for old, new in zip(before, after, strict=False):
        if old.source == new.source:
            continue
        name = f"{path}:cell {old.number}"
        out.extend(
            difflib.unified_diff(
                _with_final_newline(old.source),
                _with_final_newline(new.source),
                fromfile=name,
                tofile=name,
            )
        )
    return "".join(out)


def _with_final_newline(source: str) -> list[str]:
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def runnable_script(notebook_text: str) -> str:
    """The notebook's code cells as a Python script that runs: IPython lines become ``pass``
    and IPython right-hand sides ``None`` (``verify`` runs notebooks this way)."""
    import re

    program = read_program(notebook_text)
    line = re.escape(LINE_PLACEHOLDER).replace(r"\{\}", r"\d+")
    text = re.sub(line, "pass", program.source)
    return re.sub(r"__torchlint_ipython_expr_\d+__", "None", text)
