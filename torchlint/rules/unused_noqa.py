"""TL900 ``unused-noqa``: a suppression comment naming a torchlint rule that is unknown or that
suppresses nothing on its line (ruff's RUF100, for torchlint's own codes).

Like TL000, the engine reports it, not a traversal: whether a ``# noqa: TL001`` is used depends on
every other rule's findings on that line before suppressions are applied, which only the engine
sees (:func:`unused_suppressions`, called from :func:`torchlint.engine.lint_source`).

Only torchlint's codes are judged: in ``# noqa:``, codes that start with ``TL`` and known rule
names; in ``# torchlint: ignore[...]``, everything. Other tools' codes (``E501``, ``F401``), a
bare ``# noqa`` and a bare ``# torchlint: ignore`` are never reported: torchlint cannot know what
they silence. A known rule that is not enabled for the file is not judged either (it did not run).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from torchlint.diagnostics import (
    Applicability,
    Category,
    Diagnostic,
    Edit,
    Fix,
    Position,
    Precision,
    Severity,
)
from torchlint.lines import source_lines
from torchlint.rule import Rule
from torchlint.suppression import IGNORE, NOQA, SKIP_FILE, comment_tokens

CODE = "TL900"
NAME = "unused-noqa"

_TOKEN = re.compile(r"[\w\-]+")
_TL_CODE = re.compile(r"^TL\d+$", re.IGNORECASE)
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$", re.IGNORECASE)


class UnusedNoqa(Rule):
    code = CODE
    name = NAME
    summary = (
        "A `# noqa` or `# torchlint: ignore[...]` comment names a torchlint rule that does not "
        "exist or that reports nothing on its line"
    )
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.HIGH
    preview = False
    fix_applicability = Applicability.SAFE
    # Never a candidate for the rule traversal: the engine judges suppressions itself, after
    # every other rule (a text holding a NUL is refused before any rule runs).
    needles = ("\x00",)


@dataclass(frozen=True)
class _Code:
    text: str
    start: int  # columns within the line
    end: int


@dataclass(frozen=True)
class _Directive:
    line: int
    start: int  # column of the directive's `#`
    end: int  # column just past the directive
    comment_start: int
    comment_end: int
    codes: tuple[_Code, ...]
    torchlint_only: bool  # `# torchlint: ignore[...]`: every code is torchlint's


def _directives(source: str) -> tuple[list[_Directive], bool]:
    """Every suppression directive that names codes, and whether the file is skipped."""
    found: list[_Directive] = []
    skip_file = False
    for line, column, comment in comment_tokens(source) or ():
        if SKIP_FILE.search(comment):
            skip_file = True
            continue
        for pattern, torchlint_only in ((NOQA, False), (IGNORE, True)):
            match = pattern.search(comment)
            if match is None or match.group("codes") is None or not match.group("codes").strip():
                continue
            base = column + match.start("codes")
            codes = tuple(
                _Code(m.group(0), base + m.start(), base + m.end())
                for m in _TOKEN.finditer(match.group("codes"))
            )
            found.append(
                _Directive(
                    line,
                    column + match.start(),
                    column + match.end(),
                    column,
                    column + len(comment),
                    codes,
                    torchlint_only,
                )
            )
    return found, skip_file


def _names(code: str, name: str) -> set[str]:
    return {code.upper(), name.lower()}


def unused_suppressions(
    source: str,
    path: str,
    diagnostics: Sequence[Diagnostic],
    enabled: Sequence[tuple[str, str]],
    known: Sequence[tuple[str, str]],
) -> list[Diagnostic]:
    """TL900 findings for ``source``: ``diagnostics`` are every finding before suppressions,
    ``enabled`` the (code, name) of the rules that ran, ``known`` of every rule torchlint knows."""
    if "noqa" not in source.lower() and "torchlint:" not in source.lower():
        return []
    directives, skip_file = _directives(source)
    if skip_file or not directives:
        return []
    known_ids = set().union(*(_names(c, n) for c, n in known))
    enabled_ids = set().union(*(_names(c, n) for c, n in enabled))
    found_on: dict[int, set[str]] = {}
    for d in diagnostics:
        found_on.setdefault(d.start.line, set()).update(_names(d.code, d.name))
    lines = source_lines(source, keepends=True)
    out: list[Diagnostic] = []
    for directive in directives:
        unknown: list[_Code] = []
        unused: list[_Code] = []
        for code in directive.codes:
            key = code.text.upper() if _TL_CODE.match(code.text) else code.text.lower()
            if key in (CODE, NAME):
                continue  # the comment that silences this rule is judged by no one
            # Other tools' noqa codes are letters and digits (E501, F401); a kebab-case word
            # is a torchlint rule name, known or misspelt.
            ours = (
                directive.torchlint_only
                or _TL_CODE.match(code.text)
                or _KEBAB.match(code.text)
                or key in known_ids
            )
            if not ours:
                continue  # another tool's code: not torchlint's to judge
            if key not in known_ids:
                unknown.append(code)
            elif key in enabled_ids and key not in found_on.get(directive.line, set()):
                unused.append(code)
        if not unknown and not unused:
            continue
        parts = []
        if unused:
            parts.append("unused: " + ", ".join(f"`{c.text}`" for c in unused))
        if unknown:
            parts.append("unknown: " + ", ".join(_unknown(c.text, known) for c in unknown))
        text = lines[directive.line - 1] if directive.line <= len(lines) else ""
        comment = text[directive.start : directive.end]
        out.append(
            Diagnostic(
                code=CODE,
                name=NAME,
                message=f"Unused suppression `{comment}` ({'; '.join(parts)})",
                severity=UnusedNoqa.severity,
                path=path,
                start=Position(directive.line, directive.start),
                end=Position(directive.line, directive.end),
                fix=_fix(directive, [*unused, *unknown], text),
                category=UnusedNoqa.category.value,
            )
        )
    return out


def _unknown(text: str, known: Sequence[tuple[str, str]]) -> str:
    """`TL9999`, or `missing-zerograd`, did you mean `missing-zero-grad`?"""
    if _TL_CODE.match(text):
        candidates, word = [c for c, _ in known], text.upper()
    else:
        candidates, word = [n for _, n in known], text.lower()
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.8)
    return f"`{text}`, did you mean `{close[0]}`?" if close else f"`{text}`"


def _fix(directive: _Directive, drop: list[_Code], text: str) -> Fix:
    line = directive.line
    if len(drop) < len(directive.codes):  # keep the other codes, comma-separated
        dropped = {c.start for c in drop}
        kept = ", ".join(c.text for c in directive.codes if c.start not in dropped)
        first, last = directive.codes[0], directive.codes[-1]
        title = "Remove the unused codes" if len(drop) > 1 else f"Remove `{drop[0].text}`"
        edit = Edit(Position(line, first.start), Position(line, last.end), kept)
        return Fix(title, (edit,), Applicability.SAFE)
    title = "Remove the suppression comment"
    body = text.rstrip("\r\n")
    if directive.start == directive.comment_start and directive.end >= len(body.rstrip()):
        if not body[: directive.start].strip():  # a line holding only the comment
            line_end = (
                Position(line + 1, 0) if text.endswith(("\n", "\r")) else Position(line, len(text))
            )
            return Fix(title, (Edit(Position(line, 0), line_end, ""),), Applicability.SAFE)
        start = len(body[: directive.start].rstrip())  # with the spaces before it
        return Fix(
            title, (Edit(Position(line, start), Position(line, len(body)), ""),), Applicability.SAFE
        )
    # Other text shares the comment: remove the directive and the spaces that follow it.
    end = directive.end
    while end < len(body) and body[end] in " \t":
        end += 1
    start = directive.start
    if directive.start != directive.comment_start:  # keep the comment's own `#`
        while start > directive.comment_start and body[start - 1] in " \t":
            start -= 1
        end = directive.end
    return Fix(title, (Edit(Position(line, start), Position(line, end), ""),), Applicability.SAFE)
