"""A notebook as one Python program: its code cells in order, IPython syntax masked, and the map
from the program's lines back to (cell, line) for findings and from a fixed program back into the
cells' ``source``.

Cells that are not Python (markdown, raw, ``%%bash`` and other non-Python cell magics) are left
out; every code cell that is linted ends with a newline in the program, so each of its lines is a
line of the program. Columns are unchanged: masking keeps what is left of a placeholder in place.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from torchlint.diagnostics import Diagnostic, Edit, Fix, Position
from torchlint.lines import source_lines
from torchlint.notebook_json import RawCell, RawNotebook, read_notebook, with_sources
from torchlint.notebook_magics import cell_magic, mask_cell, python_cell_magic, unmask

NOTEBOOK_SUFFIX = ".ipynb"


def is_notebook_path(name: str) -> bool:
    return name.endswith(NOTEBOOK_SUFFIX)


@dataclass(frozen=True)
class ProgramCell:
    """A code cell's part of the program: lines ``first_line`` to ``first_line + line_count - 1``
    and characters ``start`` to ``end`` (its newline included)."""

    cell: RawCell
    first_line: int
    line_count: int
    start: int
    end: int
    ends_with_newline: bool  # in the notebook (the program adds one where it does not)
    originals: dict[str, str]  # placeholder -> masked IPython text


@dataclass(frozen=True)
class NotebookProgram:
    notebook: RawNotebook
    source: str  # the program the engine lints
    cells: tuple[ProgramCell, ...]

    @property
    def is_python(self) -> bool:
        return self.notebook.language in (None, "python", "python3", "ipython")

    def cell_source(self, number: int) -> str | None:
        """The stored source of cell ``number`` (1-based, all cells counted)."""
        if 0 < number <= len(self.notebook.cells):
            return self.notebook.cells[number - 1].source
        return None

    # -- positions ---------------------------------------------------------------------------

    def locate(self, line: int) -> tuple[ProgramCell, int] | None:
        """The cell holding program line ``line`` and the line's number within the cell."""
        if not self.cells:
            return None
        index = bisect.bisect_right([c.first_line for c in self.cells], line) - 1
        if index < 0:
            return None
        cell = self.cells[index]
        if line >= cell.first_line + max(cell.line_count, 1):
            # Past the cell's end: the program's last line, or an empty cell's place.
            return cell, max(line - cell.first_line + 1, 1)
        return cell, line - cell.first_line + 1

    def _position(self, position: Position, cell: ProgramCell) -> Position:
        located = self.locate(position.line)
        if located is None or located[0] is not cell:
            # An end (or an edit) outside the finding's cell: the end of that cell.
            last = max(cell.line_count, 1)
            lines = source_lines(cell.cell.source)
            return Position(last, len(lines[last - 1]) if len(lines) >= last else 0)
        return Position(located[1], position.column)

    def to_cells(self, diagnostic: Diagnostic) -> Diagnostic:
        """``diagnostic`` (in program lines) located by cell: its cell's number and lines
        counted from the cell's first line. Fix edits are given in the lines of the cell each
        starts in."""
        located = self.locate(diagnostic.start.line)
        if located is None:
            return diagnostic
        cell, line = located
        fix = diagnostic.fix
        if fix is not None:
            fix = Fix(fix.title, tuple(self._edit(edit) for edit in fix.edits), fix.applicability)
        return replace(
            diagnostic,
            start=Position(line, diagnostic.start.column),
            end=self._position(diagnostic.end, cell),
            fix=fix,
            cell=cell.cell.number,
        )

    def _edit(self, edit: Edit) -> Edit:
        located = self.locate(edit.start.line)
        if located is None:
            return edit
        cell, line = located
        return Edit(Position(line, edit.start.column), self._position(edit.end, cell), edit.content)

    # -- writing a fixed program back ---------------------------------------------------------

    def fixed_sources(self, fixed: str, boundaries: Sequence[int]) -> dict[int, str]:
        """Each linted cell's new source: ``fixed`` (the program after fixes) split at
        ``boundaries`` (where each cell's part now starts, and the end), IPython text restored.

        Raises :class:`WriteBackError` when a fix moved or removed masked IPython text.
        """
        sources: dict[int, str] = {}
        for index, cell in enumerate(self.cells):
            part = fixed[boundaries[index] : boundaries[index + 1]]
            text = unmask(part, cell.originals)
            if text is None:
                raise WriteBackError(
                    f"a fix would move or remove IPython syntax in cell {cell.cell.number}"
                )
            if not cell.ends_with_newline and text.endswith("\n"):
                text = text[:-1]
            sources[cell.cell.number] = text
        return sources

    def write_back(self, fixed: str, boundaries: Sequence[int]) -> str:
        """The notebook's text with :meth:`fixed_sources` written into its cells."""
        return with_sources(self.notebook, self.fixed_sources(fixed, boundaries))

    def edits_in_cell(self, diagnostic: Diagnostic) -> bool:
        """Whether every edit of ``diagnostic``'s fix (program lines) lies in the finding's cell:
        a fix an editor can apply to that cell alone."""
        if diagnostic.fix is None:
            return True
        home = self.locate(diagnostic.start.line)
        if home is None:
            return False
        cell = home[0]
        starts = _line_offsets(self.source)
        for edit in diagnostic.fix.edits:
            begin, end = _offset(starts, edit.start), _offset(starts, edit.end)
            if begin < cell.start or end > cell.end:
                return False
            if begin == end == cell.end and cell is not self.cells[-1]:
                return False  # text put above the next cell's first line goes to that cell
        return True


class WriteBackError(Exception):
    pass


def build_program(notebook: RawNotebook) -> NotebookProgram:
    """The notebook's code cells as one program (see the module's docstring)."""
    pieces: list[str] = []
    cells: list[ProgramCell] = []
    line = 1
    offset = 0
    next_id = 0
    for raw in notebook.cells:
        if raw.kind != "code":
            continue
        magic = cell_magic(raw.source)
        if magic is not None and not python_cell_magic(magic):
            continue  # %%bash, %%html, %%writefile...: not Python
        masked = mask_cell(raw.source, next_id)
        next_id += len(masked.originals)
        text = masked.text
        ends_with_newline = raw.source.endswith("\n") or not raw.source
        if text and not text.endswith("\n"):
            text += "\n"
        count = text.count("\n") if "\r" not in text else len(source_lines(text))
        cells.append(
            ProgramCell(
                raw, line, count, offset, offset + len(text), ends_with_newline, masked.originals
            )
        )
        pieces.append(text)
        line += count
        offset += len(text)
    return NotebookProgram(notebook, "".join(pieces), tuple(cells))


def read_program(text: str) -> NotebookProgram:
    """Read notebook ``text`` as a program; raises :class:`~torchlint.notebook_json.NotebookError`."""
    return build_program(read_notebook(text))


# -- following cell boundaries through fixes --------------------------------------------------


def _line_offsets(source: str) -> list[int]:
    starts = [0]
    for line in source_lines(source, keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _offset(starts: list[int], position: Position) -> int:
    index = min(max(position.line - 1, 0), len(starts) - 1)
    return min(starts[index] + position.column, starts[-1])


def move_boundaries(boundaries: list[int], source: str, edits: Iterable[Edit]) -> list[int]:
    """Where ``boundaries`` (offsets in ``source``) are after ``edits`` are applied to it.

    Text inserted exactly at a boundary goes to the cell that starts there (a statement or
    import put above that cell's first statement). Raises :class:`WriteBackError` for an edit
    that spans a boundary: it would move code from one cell into another.
    """
    starts = _line_offsets(source)
    spans = [(_offset(starts, e.start), _offset(starts, e.end), len(e.content)) for e in edits]
    moved: list[int] = []
    last = len(boundaries) - 1
    for index, boundary in enumerate(boundaries):
        shift = 0
        for begin, end, length in spans:
            if begin < boundary < end:
                raise WriteBackError("a fix spans two cells")
            # The program's end: text added there belongs to the last cell.
            if end < boundary or end == boundary and (begin < end or index == last):
                shift += length - (end - begin)
        moved.append(boundary + shift)
    return moved


def initial_boundaries(program: NotebookProgram) -> list[int]:
    return [cell.start for cell in program.cells] + [len(program.source)]
