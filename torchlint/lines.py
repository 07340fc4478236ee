"""Splitting source into lines the way Python does.

``str.splitlines`` also breaks at form feeds, vertical tabs, file/group/record separators, NEL and
the Unicode line and paragraph separators, none of which end a line of Python source. Positions
from the parser count only ``\\n``, ``\\r\\n`` and ``\\r``, so every line count here must too.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def source_lines(source: str, keepends: bool = False) -> list[str]:
    """The lines of ``source``; with ``keepends`` they join back to exactly ``source``."""
    lines = _LINE.findall(source)
    if keepends:
        return lines
    return [line.rstrip("\r\n") for line in lines]
