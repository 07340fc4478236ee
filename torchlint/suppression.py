"""``# noqa`` and ``# torchlint:`` comments: which findings a user has silenced, and where."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from functools import lru_cache

from torchlint.lines import source_lines

# A code (``TL001``, ``E501``) or a rule name (``missing-zero-grad``). The list after ``noqa:`` ends
# at the first word that is neither, as in ruff: ``# noqa: SIM102 - the reason`` names SIM102 only,
# and the prose after it is never read as rule names.
_CODE = r"(?:[A-Za-z]+[0-9]+|[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+)(?![\w-])"
NOQA = re.compile(rf"#\s*noqa(?::\s*(?P<codes>{_CODE}(?:(?:\s*,\s*|\s+){_CODE})*))?", re.IGNORECASE)
IGNORE = re.compile(r"#\s*torchlint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
SKIP_FILE = re.compile(r"#\s*torchlint:\s*skip-file\b", re.IGNORECASE)

ALL = None  # a line-level suppression without codes silences everything on the line


@dataclass
class Suppressions:
    skip_file: bool = False
    # line -> set of codes/names, or ALL
    lines: dict[int, set[str] | None] = field(default_factory=dict)

    def silences(self, line: int, code: str, name: str) -> bool:
        if self.skip_file:
            return True
        if line not in self.lines:
            return False
        codes = self.lines[line]
        return codes is None or code.upper() in codes or name.lower() in codes


def _codes(raw: str | None) -> set[str] | None:
    if raw is None or not raw.strip():
        return ALL
    out: set[str] = set()
    for part in re.split(r"[\s,]+", raw.strip()):
        if part:
            out.add(part.upper() if re.match(r"^[A-Za-z]+\d+$", part) else part.lower())
    return out


def _merge(existing: set[str] | None, new: set[str] | None, present: bool) -> set[str] | None:
    if not present:
        return new
    if existing is None or new is None:
        return ALL
    return existing | new


@lru_cache(maxsize=2)
def comment_tokens(source: str) -> tuple[tuple[int, int, str], ...] | None:
    """(line, column, text) of every real comment; None when the text does not tokenize.

    Cached: the engine's suppression filter and TL900 read the same file's comments.
    """
    try:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        return tuple(
            (tok.start[0], tok.start[1], tok.string)
            for tok in tokens
            if tok.type == tokenize.COMMENT
        )
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None


def _comments(source: str) -> list[tuple[int, str]]:
    """(line, text) of every real comment; falls back to a line scan if tokenizing fails."""
    tokens = comment_tokens(source)
    if tokens is not None:
        return [(line, text) for line, _, text in tokens]
    found = []
    for number, line in enumerate(source_lines(source), start=1):
        index = line.find("#")
        if index >= 0:
            found.append((number, line[index:]))
    return found


def parse_suppressions(source: str) -> Suppressions:
    result = Suppressions()
    lowered = source.lower()
    if "noqa" not in lowered and "torchlint:" not in lowered:
        return result  # the common case costs one substring search
    for line, comment in _comments(source):
        if SKIP_FILE.search(comment):
            result.skip_file = True
            continue
        for pattern in (NOQA, IGNORE):
            match = pattern.search(comment)
            if match:
                present = line in result.lines
                result.lines[line] = _merge(
                    result.lines.get(line), _codes(match.group("codes")), present
                )
    return result
