"""Text that is safe to print to a terminal.

A file name or a source line can hold control characters: an escape sequence (``\\x1b[2J``
clears the screen, others set the window title or, in some terminals, more), a carriage return
that hides what came before it, or a Unicode bidirectional control that shows code in another
order than it runs ("Trojan Source"). Printed raw, a hostile repository controls the terminal of
whoever lints it. :func:`printable` shows each such character as its escape instead.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional embeddings,
# overrides and isolates.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as its escape (``\\x1b``, ``\\u202e``)."""
    return _UNPRINTABLE.sub(_escape, text)
