"""Apply text edits to a source, and tell which edits would collide."""

from __future__ import annotations

from collections.abc import Sequence

from torchlint.diagnostics import Edit, Fix, Position
from torchlint.lines import source_lines

Span = tuple[int, int]  # character offsets: start, end


def line_offsets(source: str) -> list[int]:
    """The offset at which each line starts, and the text's length last."""
    starts = [0]
    for line in source_lines(source, keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _offset(starts: list[int], position: Position) -> int:
    line_index = min(max(position.line - 1, 0), len(starts) - 1)
    return min(starts[line_index] + position.column, starts[-1])


def apply_edits(source: str, edits: Sequence[Edit]) -> str:
    starts = line_offsets(source)
    spans = sorted(
        ((_offset(starts, e.start), _offset(starts, e.end), e.content) for e in edits),
        key=lambda s: (s[0], s[1]),
        reverse=True,
    )
    text = source
    for begin, end, content in spans:
        text = text[:begin] + content + text[end:]
    return text


def fix_spans(fix: Fix, starts: list[int]) -> list[Span]:
    """Where ``fix``'s edits fall, given the text's :func:`line_offsets`."""
    return [(_offset(starts, e.start), _offset(starts, e.end)) for e in fix.edits]


def overlaps(a: list[Span], b: list[Span]) -> bool:
    for s1, e1 in a:
        for s2, e2 in b:
            if s1 < e2 and s2 < e1:
                return True
            if s1 == s2 and (s1 == e1 or s2 == e2):
                return True  # two insertions at one point: order would be arbitrary
    return False
