"""Line and column of the nodes a file's findings need, without regenerating the whole file.

LibCST finds positions by generating the code of the whole module again, which costs about as much
as the parse. Findings cluster in a few top-level statements, so torchlint generates only those:
CPython's parser (fast, in C) says on which line each top-level statement starts, and LibCST's
positions inside the regenerated statement are shifted to that line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from torchlint.analysis.walk import walk


def _statement_lines(module: cst.Module, source: str) -> list[int] | None:
    """The first line of each top-level statement (as LibCST counts it), or None if unsure."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines: list[int] = []
    index = 0
    for statement in module.body:
        if index >= len(tree.body):
            return None
        lines.append(tree.body[index].lineno)
        index += len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1
    return lines if index == len(tree.body) else None


def _full(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """LibCST's positions for every node of ``module``.

    The provider is run directly: through ``MetadataWrapper`` it also pays for a batched visit of
    the whole tree, which doubles the cost. The wrapper remains the fallback.
    """
    try:
        provider = PositionProvider()
        provider._gen_impl(module)
        return provider._computed
    except AttributeError:  # a LibCST whose internals moved
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def _shift(where: CodeRange, lines: int) -> CodeRange:
    return CodeRange(
        CodePosition(where.start.line + lines, where.start.column),
        CodePosition(where.end.line + lines, where.end.column),
    )


def node_positions(
    module: cst.Module, source: str, wanted: Iterable[cst.CSTNode]
) -> Mapping[cst.CSTNode, CodeRange]:
    """Positions of (at least) the ``wanted`` nodes."""
    wanted_ids = {id(node) for node in wanted}
    starts = _statement_lines(module, source)
    if starts is None or id(module) in wanted_ids:
        return _full(module)
    holders: list[tuple[cst.BaseStatement, int]] = []
    for statement, first_line in zip(module.body, starts, strict=True):
        hit = False

        def visit(node: cst.CSTNode) -> bool:
            nonlocal hit
            if id(node) in wanted_ids:
                hit = True
            return not hit

        walk(statement, visit)
        if hit:
            holders.append((statement, first_line))
    # One pass over just the statements that hold findings, then each is moved to its line.
    local = _full(module.with_changes(body=[s for s, _ in holders], header=(), footer=()))
    found: dict[cst.CSTNode, CodeRange] = {}
    for statement, first_line in holders:
        shift = first_line - local[statement].start.line

        def place(node: cst.CSTNode, shift: int = shift) -> None:
            if id(node) in wanted_ids and node in local:
                found[node] = _shift(local[node], shift)

        walk(statement, place)
    if len(found) < len(wanted_ids):
        return _full(module)  # something outside the statements (never expected): be exact
    return found
