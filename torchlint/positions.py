"""Line and column of the nodes a file's findings need, without regenerating the whole file.

LibCST finds positions by generating the code of the whole module again, which costs about as much
as the parse. Findings cluster in a few top-level statements, so torchlint generates only those:
CPython's parser (fast, in C) says on which line each top-level statement starts, and LibCST's
positions inside the regenerated statement are shifted to that line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from torchlint.analysis.walk import walk
from torchlint.formfeed import indentation_form_feeds
from torchlint.statement_starts import Statement, statement_lines

if TYPE_CHECKING:
    from torchlint.incremental import IncrementalParser


def _statement_lines(module: cst.Module, source: str) -> list[int] | None:
    """The first line of each top-level statement (as LibCST counts it), or None if unsure."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return statement_lines(module, tree)


def _full(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """LibCST's positions for every node of ``module``, through its public metadata API.

    Calling the provider's private generator directly would skip the wrapper's batched visit
    (about 10% of a lint on a file with a finding in most statements, nothing measurable on real
    projects, where few statements hold findings): torchlint keeps to LibCST's public API instead.
    """
    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def _shift(where: CodeRange, lines: int) -> CodeRange:
    return CodeRange(
        CodePosition(where.start.line + lines, where.start.column),
        CodePosition(where.end.line + lines, where.end.column),
    )


def node_positions(
    module: cst.Module,
    source: str,
    wanted: Iterable[cst.CSTNode],
    reuse: IncrementalParser | None = None,
) -> Mapping[cst.CSTNode, CodeRange]:
    """Positions of (at least) the ``wanted`` nodes, in ``source``'s own columns."""
    found = _node_positions(module, source, wanted, reuse)
    shifts = indentation_form_feeds(source)
    if not shifts:
        return found
    # LibCST counted these lines without their indentation's form feeds (formfeed.py).
    return {
        node: CodeRange(
            CodePosition(where.start.line, where.start.column + shifts.get(where.start.line, 0)),
            CodePosition(where.end.line, where.end.column + shifts.get(where.end.line, 0)),
        )
        for node, where in found.items()
    }


def _node_positions(
    module: cst.Module,
    source: str,
    wanted: Iterable[cst.CSTNode],
    reuse: IncrementalParser | None = None,
) -> Mapping[cst.CSTNode, CodeRange]:
    """Positions of (at least) the ``wanted`` nodes, as LibCST counts them.

    With ``reuse`` (the parser that built ``module``), the statement start lines come from its
    parse and the positions inside statements it located before are not computed again.
    """
    wanted = list(wanted)
    wanted_ids = {id(node) for node in wanted}
    starts = reuse.starts if reuse is not None and reuse.starts is not None else None
    if starts is None:
        starts = _statement_lines(module, source)
    if starts is None or id(module) in wanted_ids:
        return _full(module)
    if reuse is not None:
        return _positions_reusing(module, starts, wanted, reuse)
    holders: list[tuple[Statement, int]] = []
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


def _positions_reusing(
    module: cst.Module, starts: list[int], wanted: list[cst.CSTNode], reuse: IncrementalParser
) -> Mapping[cst.CSTNode, CodeRange]:
    """As :func:`node_positions`, keeping for each statement the ids of its nodes and, once it
    held a finding, their positions: an unchanged statement is neither walked nor located again."""
    by_id = {id(node): node for node in wanted}
    wanted_ids = by_id.keys()
    holders: list[tuple[Statement, int, set[int]]] = []
    for statement, first_line in zip(module.body, starts, strict=True):
        ids = reuse.node_ids(statement)
        if ids is None:
            ids = set()

            def record(node: cst.CSTNode, ids: set[int] = ids) -> None:
                ids.add(id(node))

            walk(statement, record)
            reuse.keep_node_ids(statement, ids)
        hits = ids & wanted_ids
        if hits:
            holders.append((statement, first_line, hits))
    missing = [s for s, _, _ in holders if reuse.local_positions(s) is None]
    if missing:
        local = _full(module.with_changes(body=missing, header=(), footer=()))
        for statement in missing:
            reuse.keep_positions(statement, (local, local[statement].start.line))
    found: dict[cst.CSTNode, CodeRange] = {}
    for statement, first_line, hits in holders:
        located = reuse.local_positions(statement)
        assert located is not None
        inside, base = located
        for node_id in hits:
            node = by_id[node_id]
            where = inside.get(node)
            if where is not None:
                found[node] = _shift(where, first_line - base)
    if len(found) < len(by_id):
        return _full(module)  # something outside the statements (never expected): be exact
    return found
