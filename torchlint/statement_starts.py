"""Where each top-level statement starts, from CPython's parse (fast, in C) of the same text."""

from __future__ import annotations

import ast

import libcst as cst

# What a module's body holds.
Statement = cst.SimpleStatementLine | cst.BaseCompoundStatement


def statement_starts(tree: ast.Module) -> list[int]:
    """First line of each top-level statement group: decorators count, and statements that share
    a line (``a = 1; b = 2``) form one group, as LibCST keeps them in one statement line."""
    starts: list[int] = []
    for node in tree.body:
        decorators = getattr(node, "decorator_list", ())
        line = min([node.lineno, *(d.lineno for d in decorators)])
        if not starts or line > starts[-1]:
            starts.append(line)
    return starts


def statement_lines(module: cst.Module, tree: ast.Module) -> list[int] | None:
    """The first line of each statement of ``module.body``, from CPython's ``tree`` of the same
    text (a LibCST statement line may hold several of its statements), or None if they differ."""
    lines: list[int] = []
    index = 0
    for statement in module.body:
        if index >= len(tree.body):
            return None
        lines.append(tree.body[index].lineno)
        index += len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1
    return lines if index == len(tree.body) else None
