"""Between torchlint's values and the Language Server Protocol's: positions, diagnostics, edits.

torchlint counts lines from 1 and columns in characters (code points) from 0. LSP counts both from 0,
and columns in the code units of the negotiated position encoding: UTF-16 unless the client offered
something else. A line in LSP ends at ``\\n``, ``\\r\\n`` or ``\\r`` (as in LibCST, so a form feed
or U+2028 inside a line is just a character). Everything here is pure: no server, no I/O.
"""

from __future__ import annotations

import bisect
import functools
import io
import re
import tokenize
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from torchlint.diagnostics import (
    SYNTAX_ERROR_CODE,
    Applicability,
    Diagnostic,
    Edit,
    Position,
    Severity,
)
from torchlint.docs import doc_href
from torchlint.registry import find_rule
from torchlint.suppression import NOQA

SOURCE = "torchlint"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# The same grammar as torchlint.suppression: a noqa comment with an optional list of codes.

SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


def _units(text: str, encoding: str) -> int:
    """How many code units ``text`` is in the position encoding."""
    if text.isascii() or encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    return len(text.encode("utf-16-le")) // 2


def _chars(text: str, units: int, encoding: str) -> int:
    """The character index in ``text`` that ``units`` code units reach (clamped to the line)."""
    if text.isascii() or encoding == types.PositionEncodingKind.Utf32:
        return min(units, len(text))
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += _units(char, encoding)
    return len(text)


class LineIndex:
    """Offsets of a text's lines, and conversions between torchlint and LSP positions."""

    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.text = text
        self.encoding = encoding
        self.starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def line_text(self, line0: int) -> str:
        """Line ``line0`` (0-based) without its line break."""
        if not 0 <= line0 < len(self.starts):
            return ""
        start = self.starts[line0]
        end = self.starts[line0 + 1] if line0 + 1 < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def offset(self, position: Position) -> int:
        """The character offset of a torchlint position (a column past the line runs on)."""
        line0 = position.line - 1
        if line0 < 0:
            return 0
        if line0 >= len(self.starts):
            return len(self.text)
        return min(self.starts[line0] + max(position.column, 0), len(self.text))

    def lsp_at_offset(self, offset: int) -> types.Position:
        offset = min(max(offset, 0), len(self.text))
        line0 = bisect.bisect_right(self.starts, offset) - 1
        content = self.line_text(line0)
        column = min(offset - self.starts[line0], len(content))
        return types.Position(line=line0, character=_units(content[:column], self.encoding))

    def lsp_position(self, position: Position) -> types.Position:
        return self.lsp_at_offset(self.offset(position))

    def lsp_range(self, start: Position, end: Position) -> types.Range:
        return types.Range(start=self.lsp_position(start), end=self.lsp_position(end))

    def char_column(self, position: types.Position) -> int:
        """The character column of an LSP position on its line."""
        return _chars(self.line_text(position.line), position.character, self.encoding)

    def end(self) -> types.Position:
        return self.lsp_at_offset(len(self.text))


# -- rules' documentation links -------------------------------------------------------------------


@functools.cache
# -- diagnostics ----------------------------------------------------------------------------------


def edit_dict(edit: Edit, index: LineIndex) -> dict[str, Any]:
    """An LSP TextEdit as plain JSON (what travels in a diagnostic's ``data``)."""
    start, end = index.lsp_position(edit.start), index.lsp_position(edit.end)
    return {
        "range": {
            "start": {"line": start.line, "character": start.character},
            "end": {"line": end.line, "character": end.character},
        },
        "newText": edit.content,
    }


def text_edit(data: dict[str, Any]) -> types.TextEdit:
    r = data["range"]
    return types.TextEdit(
        range=types.Range(
            start=types.Position(line=r["start"]["line"], character=r["start"]["character"]),
            end=types.Position(line=r["end"]["line"], character=r["end"]["character"]),
        ),
        new_text=data["newText"],
    )


def fix_title(title: str, applicability: str) -> str:
    return f"{title} (unsafe)" if applicability == Applicability.UNSAFE.value else title


def to_lsp_diagnostic(
    diagnostic: Diagnostic, index: LineIndex, version: int | None
) -> types.Diagnostic:
    rule = find_rule(diagnostic.code)
    href = doc_href(rule)
    data: dict[str, Any] = {"version": version, "code": diagnostic.code, "fix": None}
    fix = diagnostic.fix
    if fix is not None and fix.applicability is not Applicability.DISPLAY_ONLY:
        data["fix"] = {
            "title": fix.title,
            "applicability": fix.applicability.value,
            "edits": [edit_dict(e, index) for e in fix.edits],
        }
    return types.Diagnostic(
        range=index.lsp_range(diagnostic.start, diagnostic.end),
        message=diagnostic.message,
        severity=SEVERITIES.get(diagnostic.severity, types.DiagnosticSeverity.Warning),
        code=diagnostic.code,
        code_description=types.CodeDescription(href=href) if href else None,
        source=SOURCE,
        data=data,
    )


def contains(range_: types.Range, position: types.Position) -> bool:
    start = (range_.start.line, range_.start.character)
    end = (range_.end.line, range_.end.character)
    return start <= (position.line, position.character) <= end


def same_range(a: types.Range, b: types.Range) -> bool:
    return (
        a.start.line == b.start.line
        and a.start.character == b.start.character
        and a.end.line == b.end.line
        and a.end.character == b.end.character
    )


# -- "Disable TLxxx for this line" ------------------------------------------------------------------


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None


_STRING_TYPES = {tokenize.STRING} | {
    getattr(tokenize, name)
    for name in (
        "FSTRING_MIDDLE",
        "FSTRING_START",
        "FSTRING_END",
        "TSTRING_MIDDLE",
        "TSTRING_START",
        "TSTRING_END",
    )
    if hasattr(tokenize, name)
}


def noqa_edit(index: LineIndex, line0: int, code: str) -> types.TextEdit | None:
    """The edit that silences ``code`` on line ``line0``: extend its ``# noqa: X`` or append one.

    None where a comment cannot go at the end of the line: the line ends inside a string (a
    triple-quoted one going on below) or with a backslash continuation, or the file does not
    tokenize.
    """
    content = index.line_text(line0)
    tokens = _tokens(index.text)
    if tokens is None:
        return None
    row = line0 + 1
    comment: tokenize.TokenInfo | None = None
    for token in tokens:
        if token.type in _STRING_TYPES and token.start[0] <= row < token.end[0]:
            return None  # the line's end is inside a string
        if token.type == tokenize.COMMENT and token.start[0] == row:
            comment = token
    if comment is None and content.rstrip().endswith("\\"):
        return None
    if comment is not None:
        match = NOQA.search(comment.string)
        if match is not None:
            codes = match.group("codes")
            if codes is None:
                return None  # a bare noqa comment already silences everything on the line
            listed = {c.upper() for c in re.split(r"[\s,]+", codes) if c}
            if code.upper() in listed:
                return None
            column = comment.start[1] + match.end("codes")
            at = types.Position(line=line0, character=_units(content[:column], index.encoding))
            return types.TextEdit(range=types.Range(start=at, end=at), new_text=f", {code}")
    stripped = content.rstrip()
    start = types.Position(line=line0, character=_units(stripped, index.encoding))
    end = types.Position(line=line0, character=_units(content, index.encoding))
    return types.TextEdit(range=types.Range(start=start, end=end), new_text=f"  # noqa: {code}")


# -- whole-document edits -------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    """Lines with their breaks, split only where LSP splits them."""
    out: list[str] = []
    start = 0
    for match in _LINE_BREAK.finditer(text):
        out.append(text[start : match.end()])
        start = match.end()
    out.append(text[start:])
    return out


def minimal_edit(old: str, new: str, encoding: str) -> types.TextEdit | None:
    """One edit replacing the lines that differ between ``old`` and ``new`` (None if equal)."""
    if old == new:
        return None
    a, b = _lines(old), _lines(new)
    prefix = 0
    while prefix < min(len(a), len(b)) - 1 and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(a), len(b)) - prefix - 1
        and a[len(a) - 1 - suffix] == b[len(b) - 1 - suffix]
    ):
        suffix += 1
    index = LineIndex(old, encoding)
    start_offset = index.starts[prefix]
    end_offset = len(old) - sum(len(line) for line in a[len(a) - suffix :]) if suffix else len(old)
    replacement = "".join(b[prefix : len(b) - suffix])
    return types.TextEdit(
        range=types.Range(
            start=index.lsp_at_offset(start_offset), end=index.lsp_at_offset(end_offset)
        ),
        new_text=replacement,
    )


def quick_fixes(
    diagnostic: types.Diagnostic,
    data: dict[str, Any],
    index: LineIndex,
    edit: Callable[[list[types.TextEdit]], types.WorkspaceEdit],
) -> tuple[types.CodeAction | None, types.CodeAction | None]:
    """A published finding's quick fixes: its own fix, if it has one, and "Disable CODE for this
    line" (none for a syntax error, or where no comment can go). ``data`` is the finding's
    ``Diagnostic.data``; ``edit`` puts text edits of the finding's document into a workspace edit
    (a file's, or a notebook cell's)."""
    code = str(data.get("code") or diagnostic.code)
    fix = data.get("fix")
    fixing = None
    if fix:
        fixing = types.CodeAction(
            title=fix_title(fix["title"], fix["applicability"]),
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diagnostic],
            is_preferred=fix["applicability"] == Applicability.SAFE.value,
            edit=edit([text_edit(e) for e in fix["edits"]]),
        )
    silencing = None
    if code != SYNTAX_ERROR_CODE:
        noqa = noqa_edit(index, diagnostic.range.start.line, code)
        if noqa is not None:
            silencing = types.CodeAction(
                title=f"Disable {code} for this line",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                edit=edit([noqa]),
            )
    return fixing, silencing
