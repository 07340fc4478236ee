"""A progress line on stderr for long runs on a terminal (never in machine-readable output)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call with (done, total); draws only after ``delay`` seconds, at most 10 times a second."""

    def __init__(self, stream: TextIO | None = None, delay: float = 1.5) -> None:
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.delay = delay
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        width = 30
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} files")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
