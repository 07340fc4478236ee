"""Form feeds in indentation, which CPython allows and LibCST mishandles.

CPython's tokenizer resets the indentation column at a form feed (``\\f``, PEP 8's page break),
so ``\\f    x = 1`` is indented by four. LibCST drops such form feeds when it writes code back
and counts columns as if they were not there (a fix edit then lands one column early per
``\\f``), and it rejects some valid code indented with them. torchlint therefore parses the text
without the indentation up to the last form feed of each line that starts a logical line (what
CPython's indentation ignores), and moves the columns LibCST reports on those lines right by what
was removed. Lines inside brackets, strings or after a backslash keep their text: LibCST counts
those right.
"""

from __future__ import annotations

import io
import tokenize

from torchlint.lines import source_lines

_INDENT_CHARS = " \t\f"


def indentation_form_feeds(source: str) -> dict[int, int]:
    """line (1-based) -> characters up to and including the last form feed of its indentation,
    for every line that starts a logical line and has a form feed in its indentation."""
    if "\f" not in source:
        return {}
    candidates: dict[int, int] = {}
    for number, line in enumerate(source_lines(source, keepends=True), start=1):
        indentation = line[: len(line) - len(line.lstrip(_INDENT_CHARS))]
        if "\f" in indentation:
            candidates[number] = indentation.rindex("\f") + 1
    if not candidates:
        return {}
    continued: set[int] = set()  # lines that continue a logical line
    first_token_seen: set[int] = set()
    depth = 0
    previous: int | None = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            (start, _), (end, _) = token.start, token.end
            if end > start:  # a string over several lines: its inner lines are its text
                continued.update(range(start + 1, end + 1))
            if start not in first_token_seen:
                first_token_seen.add(start)
                fresh = depth == 0 and previous in (
                    None,
                    tokenize.NEWLINE,
                    tokenize.NL,
                    tokenize.ENCODING,
                    tokenize.INDENT,
                    tokenize.DEDENT,
                )
                if not fresh and token.type not in (tokenize.INDENT, tokenize.DEDENT):
                    continued.add(start)
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth = max(depth - 1, 0)
            previous = token.type
    except (tokenize.TokenError, SyntaxError, ValueError):
        return {}  # not Python CPython reads: the parse reports it, on the text as it is
    return {line: width for line, width in candidates.items() if line not in continued}


def without_indentation_form_feeds(source: str, shifts: dict[int, int]) -> str:
    """``source`` with the ``shifts[line]`` first characters of those lines removed."""
    if not shifts:
        return source
    lines = source_lines(source, keepends=True)
    for line, width in shifts.items():
        lines[line - 1] = lines[line - 1][width:]
    return "".join(lines)
