"""IPython syntax in a code cell, hidden from the Python parser and put back after a fix.

A line magic (``%time f()``), a shell escape (``!pip install x``), help (``obj?``, ``?obj``)
and the first line of a Python cell magic (``%%time``) become a placeholder name at the same
indentation, so the cell parses (inside a block too) and every other position stays where it
was; ``x = %sx ls`` and ``files = !ls`` keep their target and mask the right-hand side. A line
continued with a backslash is masked with it. Only lines that start a statement count: ``%`` at
the start of a line inside brackets is Python's modulo. Each placeholder is unique, so the
original text is restored by name wherever a fix moved its line.

Cells whose cell magic runs something other than Python (``%%bash``, ``%%html``,
``%%writefile``...) are not Python at all: :func:`python_cell_magic` says which are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Cell magics whose body is Python run in the kernel (the rest run another program, or write
# the body to a file): the body is linted, the magic's line masked.
PYTHON_CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "prun", "debug", "memit", "mprun", "snakeviz", "lprun"}
)

# A masked line is restored whole (its indentation too: a continuation line may have its own);
# a masked right-hand side, by name.
LINE_PLACEHOLDER = "__torchlint_ipython_line_{}__"
EXPRESSION_PLACEHOLDER = "__torchlint_ipython_expr_{}__"
_PLACEHOLDER = re.compile(
    r"^[ \t]*(?P<line>__torchlint_ipython_line_\d+__)|(?P<expr>__torchlint_ipython_expr_\d+__)",
    re.MULTILINE,
)

_ASSIGNED_MAGIC = re.compile(
    r"(?P<target>[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)(?P<magic>[%!].*)$"
)
_HELP = re.compile(r"[\w.*\[\]()]+\?\??")
# A token that changes what the following characters are: a comment, a string's start, a bracket.
_TOKEN = re.compile(r"""#|(?:[rRbBuUfF]{0,2})(?:'''|\"\"\"|'|")|[\[({]|[\])}]""")


@dataclass
class MaskedCell:
    """A cell's text as Python, and the original text of each placeholder in it."""

    text: str
    originals: dict[str, str] = field(default_factory=dict)


def cell_magic(source: str) -> str | None:
    """The name of the cell magic on the cell's first line (``%%time`` -> ``time``), if any."""
    first = source.lstrip(" \t").split("\n", 1)[0]
    if not first.startswith("%%"):
        return None
    return first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""


def python_cell_magic(name: str) -> bool:
    return name in PYTHON_CELL_MAGICS


def _is_magic_line(stripped: str) -> bool:
    if stripped.startswith(("%", "!", "?")):
        return True
    # ``obj?`` / ``obj.attr??``: help. No quote or comment, so not the start of a string.
    return stripped.endswith("?") and _HELP.fullmatch(stripped.rstrip()) is not None


class _Scanner:
    """Tracks, line by line, whether the next line starts a statement: not inside brackets, a
    triple-quoted string, or after a backslash continuation."""

    def __init__(self) -> None:
        self.depth = 0
        self.open_string: str | None = None  # the closing quotes of an open triple-quoted string
        self.continued = False

    @property
    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.open_string is None and not self.continued

    def feed(self, line: str) -> None:
        body = line.rstrip("\r\n")
        position = 0
        if self.open_string is not None:
            position = _close(body, 0, self.open_string)
            if position < 0:
                return  # the string goes on
            self.open_string = None
        while True:
            match = _TOKEN.search(body, position)
            if match is None:
                break
            token = match.group()
            if token == "#":
                body = body[: match.start()]
                break
            if token in "([{":
                self.depth += 1
            elif token in ")]}":
                self.depth = max(self.depth - 1, 0)
            else:
                quote = token.lstrip("rRbBuUfF")
                end = _close(body, match.end(), quote)
                if end < 0:
                    if len(quote) == 3:
                        self.open_string = quote
                        return
                    break  # an unterminated one-line string: the parser will say so
                position = end
                continue
            position = match.end()
        self.continued = body.endswith("\\")


def _close(text: str, start: int, quote: str) -> int:
    """The end of the string closed by ``quote`` at or after ``start``; -1 if not on this line."""
    position = start
    while True:
        found = text.find(quote, position)
        if found < 0:
            return -1
        backslashes = len(text[:found]) - len(text[:found].rstrip("\\"))
        if backslashes % 2 == 0:
            return found + len(quote)
        position = found + 1


# What any IPython line has somewhere: a line starting with %, ! or ?, one ending with ?, or an
# assignment from % or !. A cell with none of these (most cells) is Python as it stands.
_MAYBE_IPYTHON = re.compile(r"^[ \t]*[%!?]|\?[ \t]*\r?$|=[ \t]*[%!]", re.MULTILINE)


def mask_cell(source: str, first_id: int) -> MaskedCell:
    """``source`` with its IPython syntax replaced by placeholders numbered from ``first_id``."""
    if ("%" not in source and "!" not in source and "?" not in source) or (
        _MAYBE_IPYTHON.search(source) is None
    ):
        return MaskedCell(source)
    lines = re.findall(r"[^\n]*\n|[^\n]+$", source)
    out: list[str] = []
    originals: dict[str, str] = {}
    scanner = _Scanner()
    masking_continuation: str | None = None  # the indentation of a masked line continued by "\"

    def placeholder(original: str, pattern: str = LINE_PLACEHOLDER) -> str:
        name = pattern.format(first_id + len(originals))
        originals[name] = original
        return name

    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        indent = body[: len(body) - len(body.lstrip(" \t"))]
        stripped = body[len(indent) :]
        if masking_continuation is not None:
            out.append(masking_continuation + placeholder(body) + ending)
            if not body.endswith("\\"):
                masking_continuation = None
            continue
        if scanner.at_statement_start and stripped:
            if index == 0 and stripped.startswith("%%") or _is_magic_line(stripped):
                out.append(indent + placeholder(body) + ending)
                if body.endswith("\\"):
                    masking_continuation = indent
                continue
            assigned = _ASSIGNED_MAGIC.match(stripped)
            if assigned is not None:
                name = placeholder(assigned.group("magic"), EXPRESSION_PLACEHOLDER)
                out.append(indent + assigned.group("target") + name + ending)
                if body.endswith("\\"):
                    masking_continuation = indent
                continue
        scanner.feed(line)
        out.append(line)
    return MaskedCell("".join(out), originals)


def unmask(text: str, originals: dict[str, str]) -> str | None:
    """``text`` with each placeholder back to its original; None when a placeholder is missing or
    repeated (a fix removed or copied masked code: the result cannot be written back)."""
    if not originals:
        return text if _PLACEHOLDER.search(text) is None else None
    names = [match.group("line") or match.group("expr") for match in _PLACEHOLDER.finditer(text)]
    if sorted(names) != sorted(originals):
        return None
    return _PLACEHOLDER.sub(
        lambda match: originals[match.group("line") or match.group("expr")], text
    )


def has_placeholder(text: str) -> bool:
    return _PLACEHOLDER.search(text) is not None
