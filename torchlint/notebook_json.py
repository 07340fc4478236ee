"""A Jupyter notebook's JSON as text: its cells, where each cell's ``source`` is, and how to write
a new ``source`` into exactly that place.

The standard library's ``json`` reads the notebook (and says where invalid JSON breaks). A small
scanner then finds the character span of each cell's ``source`` value in the original text, so a
fix replaces those characters and nothing else: indentation, key order, escapes, outputs,
execution counts, metadata and the final newline stay byte for byte as they were. (nbformat
would re-serialize the whole document in its own style, and loads a schema validator per file.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

SUPPORTED_MAJOR = 4


class NotebookError(Exception):
    """A file that is not a notebook torchlint can read; the message says why, for the user.

    ``line``/``column`` (1-based, 0-based) point into the file's text where that is known.
    """

    def __init__(self, message: str, line: int = 1, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class RawCell:
    """One cell as stored: its 1-based number among all cells, kind and source text."""

    number: int
    kind: str  # "code", "markdown", "raw"
    source: str


@dataclass(frozen=True)
class RawNotebook:
    text: str
    cells: tuple[RawCell, ...]
    language: str | None  # metadata.language_info.name or kernelspec.language, if stated

    @cached_property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """Where each cell's ``source`` value is in ``text``. Found only when asked for (to write
        fixes back, or to place a finding on the file's lines): a lint never needs them."""
        spans = _source_spans(self.text)
        if len(spans) != len(self.cells) or any(span is None for span in spans):
            raise NotebookError("not a valid notebook: a cell's `source` cannot be found")
        return tuple(span for span in spans if span is not None)

    def span(self, cell: RawCell) -> tuple[int, int]:
        return self.spans[cell.number - 1]


def read_notebook(text: str) -> RawNotebook:
    """Parse ``text`` as an nbformat 4 notebook; :class:`NotebookError` says why it is not one.

    A file holding nothing but white space (a notebook just created by an editor) is an empty
    notebook.
    """
    if not text.strip():
        return RawNotebook(text, (), None)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"not a valid notebook: invalid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno})",
            exc.lineno,
            exc.colno - 1,
        ) from exc
    except RecursionError as exc:
        raise NotebookError("not a valid notebook: JSON nested too deeply") from exc
    if not isinstance(document, dict):
        raise NotebookError("not a valid notebook: the JSON document is not an object")
    major = document.get("nbformat")
    if major != SUPPORTED_MAJOR or not isinstance(document.get("cells"), list):
        if isinstance(major, int) and major < SUPPORTED_MAJOR or "worksheets" in document:
            raise NotebookError(
                f"nbformat {major} notebook: torchlint reads nbformat 4 (convert it with "
                "`jupyter nbconvert --to notebook --nbformat 4`)"
            )
        if major is None:
            raise NotebookError("not a valid notebook: no `nbformat` version and `cells` list")
        raise NotebookError(f"nbformat {major!r} notebook: torchlint reads nbformat 4")
    cells: list[RawCell] = []
    for index, cell in enumerate(document["cells"]):
        number = index + 1
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"not a valid notebook: cell {number} has no `cell_type`")
        source = cell.get("source")
        if isinstance(source, list):
            try:
                source = "".join(source)
            except TypeError:  # an element that is not a string
                source = None
        if not isinstance(source, str):
            raise NotebookError(f"not a valid notebook: cell {number} has no `source` text")
        cells.append(RawCell(number, cell["cell_type"], source))
    return RawNotebook(text, tuple(cells), _language(document))


def _language(document: dict[str, Any]) -> str | None:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return None
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        table = metadata.get(key)
        if isinstance(table, dict) and isinstance(table.get(field), str):
            return str(table[field]).lower()
    return None


# -- where each cell's source is in the text ------------------------------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'["\[\]{}]')
_LITERAL = re.compile(r"[^\s,\]}]+")


def _skip_space(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    assert match is not None
    return match.end()


def _string_end(text: str, at: int) -> int:
    """The end of the JSON string whose opening quote is at ``at``."""
    return int(scanstring(text, at + 1)[1])


def _value_end(text: str, at: int) -> int:
    """The end of the JSON value starting at ``at`` (the text is known to be valid JSON)."""
    first = text[at]
    if first == '"':
        return _string_end(text, at)
    if first not in "[{":
        match = _LITERAL.match(text, at)
        assert match is not None
        return match.end()
    depth = 0
    position = at
    while True:
        match = _STRUCTURE.search(text, position)
        assert match is not None
        char = match.group()
        if char == '"':
            position = _string_end(text, match.start())
            continue
        position = match.end()
        depth += 1 if char in "[{" else -1
        if depth == 0:
            return position


def _members(text: str, at: int) -> list[tuple[str, int, int]]:
    """(key, value start, value end) of the object starting at ``at``."""
    members: list[tuple[str, int, int]] = []
    position = _skip_space(text, at + 1)
    if text[position] == "}":
        return members
    while True:
        key, position = scanstring(text, position + 1)
        position = _skip_space(text, position)  # at ':'
        start = _skip_space(text, position + 1)
        end = _value_end(text, start)
        members.append((key, start, end))
        position = _skip_space(text, end)
        if text[position] == "}":
            return members
        position = _skip_space(text, position + 1)  # past ','


def _elements(text: str, at: int) -> list[tuple[int, int]]:
    """(start, end) of each element of the array starting at ``at``."""
    elements: list[tuple[int, int]] = []
    position = _skip_space(text, at + 1)
    if text[position] == "]":
        return elements
    while True:
        end = _value_end(text, position)
        elements.append((position, end))
        position = _skip_space(text, end)
        if text[position] == "]":
            return elements
        position = _skip_space(text, position + 1)


def _last(members: list[tuple[str, int, int]], key: str) -> tuple[int, int] | None:
    found = None
    for name, start, end in members:
        if name == key:  # a repeated key: json.loads keeps the last one, so does this
            found = (start, end)
    return found


def _source_spans(text: str) -> list[tuple[int, int] | None]:
    top = _skip_space(text, 0)
    cells = _last(_members(text, top), "cells")
    if cells is None:
        return []
    spans: list[tuple[int, int] | None] = []
    for start, _ in _elements(text, cells[0]):
        spans.append(_last(_members(text, start), "source") if text[start] == "{" else None)
    return spans


# -- writing a new source ---------------------------------------------------------------------------


def _line_start(text: str, at: int) -> int:
    return text.rfind("\n", 0, at) + 1


def _indent_at(text: str, at: int) -> str:
    start = _line_start(text, at)
    line = text[start:at]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _ascii_only(text: str) -> bool:
    """Whether the file escapes every non-ASCII character (``\\u00e9``), as Python's json does
    by default; nbformat writes them as they are."""
    return text.isascii() and "\\u" in text


def _encode(value: str, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


def source_value(text: str, span: tuple[int, int], new_source: str) -> str:
    """The JSON for ``new_source`` in the style of the value at ``span``: a string stays a
    string; a list keeps one line per element, its indentation and its separators."""
    start, end = span
    old = text[start:end]
    ascii_only = _ascii_only(text)
    if old.startswith('"'):
        return _encode(new_source, ascii_only)
    lines = re.findall(r"[^\n]*\n|[^\n]+$", new_source)
    parts = [_encode(line, ascii_only) for line in lines]
    elements = _elements(text, start)
    newline = _newline(text)
    if "\n" not in old and (elements or "\n" not in text):
        # All on one line (or a minified file): keep the separator it uses.
        separator = ", " if "\n" in text else ","
        if len(elements) > 1:
            separator = text[elements[0][1] : elements[1][0]]
        return "[" + separator.join(parts) + "]"
    if not parts:
        return "[]"
    # One element a line, as nbformat writes, at the indentation the list has.
    key_indent = _indent_at(text, start)
    inner = _indent_at(text, elements[0][0]) if elements else key_indent + _indent_unit(text)
    closing_line = text[_line_start(text, end - 1) : end - 1]
    closing = closing_line if elements and not closing_line.strip() else key_indent
    body = ("," + newline).join(inner + part for part in parts)
    return "[" + newline + body + newline + closing + "]"


def _indent_unit(text: str) -> str:
    """The file's indentation step (nbformat writes one space)."""
    match = re.search(r"\{\s*?\n([ \t]+)\"", text)
    return match.group(1) if match else " "


def with_sources(notebook: RawNotebook, new_sources: dict[int, str]) -> str:
    """The notebook's text with the ``source`` of each cell numbered in ``new_sources``
    replaced; every other character is kept."""
    pieces: list[str] = []
    position = 0
    for cell in notebook.cells:
        if cell.number not in new_sources or new_sources[cell.number] == cell.source:
            continue
        start, end = notebook.span(cell)
        pieces.append(notebook.text[position:start])
        pieces.append(source_value(notebook.text, (start, end), new_sources[cell.number]))
        position = end
    pieces.append(notebook.text[position:])
    return "".join(pieces)


def stored_position(
    notebook: RawNotebook, cell: RawCell, line: int, column: int
) -> tuple[int, int]:
    """Where character ``column`` (0-based) of line ``line`` (1-based) of ``cell``'s source is
    in the notebook's file: (1-based line, 0-based column) of the file's text, inside the JSON
    string that holds it. A reviewer reading the raw file (or a diff of it) finds the code there."""
    text = notebook.text
    start, _ = notebook.span(cell)
    lines = re.findall(r"[^\n]*\n|[^\n]+$", cell.source) or [""]
    line = min(max(line, 1), len(lines))
    ascii_only = _ascii_only(text)
    if text[start] == '"':
        before = "".join(lines[: line - 1]) + lines[line - 1][:column]
        at = start
    else:
        elements = _elements(text, start)
        if len(elements) != len(lines):
            at = start  # not one element a line: the start of the list
            before = ""
        else:
            at = elements[line - 1][0]
            before = lines[line - 1][:column]
    file_line = text.count("\n", 0, at) + 1
    file_column = at - _line_start(text, at) + len(_encode(before, ascii_only)) - 1
    return file_line, file_column
