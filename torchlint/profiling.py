"""Optional phase timing for ``benchmarks/run.py --profile``; off (and free) by default."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class PhaseTimer:
    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - start


ACTIVE: PhaseTimer | None = None


@contextmanager
def phase(name: str) -> Iterator[None]:
    if ACTIVE is None:
        yield
    else:
        with ACTIVE.phase(name):
            yield
