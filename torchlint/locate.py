"""Locate a file's rule reports: their nodes' positions, and the diagnostics (with fixes) they
become. Positions are computed only for files that have reports, and only for the nodes needed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import libcst as cst

from torchlint.context import FileContext
from torchlint.diagnostics import Diagnostic, Position
from torchlint.fix_edits import LineTable, nodes_to_locate, plan_to_fix
from torchlint.incremental import IncrementalParser
from torchlint.positions import node_positions
from torchlint.rule import Report


@contextmanager
def deep_recursion() -> Iterator[None]:
    """LibCST's code generation recurses once per nesting level; generated code nests deeply.

    From Python 3.11 pure-Python calls no longer consume the C stack, so a higher limit is safe.
    """
    old = sys.getrecursionlimit()
    if sys.version_info >= (3, 11) and old < 20000:
        sys.setrecursionlimit(20000)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def to_diagnostics(
    reports: list[Report], context: FileContext, reuse: IncrementalParser | None = None
) -> list[Diagnostic]:
    """One diagnostic per report (a node reported twice by a rule counts once)."""
    wanted: list[cst.CSTNode] = []
    for report in reports:
        wanted.append(report.node)
        if report.fix is not None:
            wanted.extend(nodes_to_locate(report.fix, context))
    positions = node_positions(context.module, context.source, wanted, reuse)
    lines = LineTable(context.source)
    out: list[Diagnostic] = []
    seen: set[tuple[str, int, int]] = set()
    for report in reports:
        where = positions[report.node]
        key = (report.rule.code, where.start.line, where.start.column)
        if key in seen:
            continue  # a node reached twice (through a closure, say) is reported once
        seen.add(key)
        fix = None
        if report.fix is not None:
            fix = plan_to_fix(report.fix, positions, context, lines)
        out.append(
            Diagnostic(
                code=report.rule.code,
                name=report.rule.name,
                message=report.message,
                severity=report.rule.severity,
                path=context.path,
                start=Position(where.start.line, where.start.column),
                end=Position(where.end.line, where.end.column),
                fix=fix,
                category=report.rule.category.value,
                suggestion=report.suggestion,
            )
        )
    return out
