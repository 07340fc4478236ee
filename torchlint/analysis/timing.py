"""Timing code: loops that measure how long their iterations take.

A loop that reads a clock (``time.perf_counter()``, ``time.time()``, ``timeit.default_timer()``) or
CUDA events (``start.record()``, ``start.elapsed_time(end)``) is a benchmark or a profiled loop:
synchronising with the device, or repeating a transfer, may be exactly what it measures.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import ImportMap
from torchlint.analysis.walk import walk

CLOCKS = frozenset(
    {
        "time.time",
        "time.perf_counter",
        "time.monotonic",
        "time.process_time",
        "time.time_ns",
        "time.perf_counter_ns",
        "time.monotonic_ns",
        "timeit.default_timer",
    }
)
_EVENT_METHODS = frozenset({"elapsed_time", "record"})


def reads_clock(node: cst.CSTNode, names: ImportMap) -> bool:
    """Whether ``node`` (a loop, say) calls a clock or records CUDA events anywhere inside."""
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(n, cst.Call):
            if names.resolve(n.func) in CLOCKS:
                found = True
            elif isinstance(n.func, cst.Attribute) and n.func.attr.value in _EVENT_METHODS:
                found = True
        return not found

    walk(node, visit)
    return found
