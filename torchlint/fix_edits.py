"""Turn a rule's fix plan (changes on nodes, :mod:`torchlint.fixes`) into text edits, once the
nodes' positions are known; new imports go below the docstring and ``__future__`` imports."""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst
from libcst.metadata import CodePosition, CodeRange

from torchlint.context import FileContext
from torchlint.diagnostics import Edit, Fix, Position
from torchlint.fixes import (
    FixPlan,
    InsertAfter,
    InsertBefore,
    Remove,
    RemoveStatement,
    Replace,
    render,
)
from torchlint.lines import source_lines

Positions = Mapping[cst.CSTNode, CodeRange]


class LineTable:
    """The lines of a text, ends kept, for edits that start or end at a line's boundary."""

    def __init__(self, source: str) -> None:
        self.lines = source_lines(source, keepends=True)

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def after_line(self, line: int) -> Position:
        """The position just past the end of ``line``, newline included."""
        if line < len(self.lines):
            return Position(line + 1, 0)
        last = self.line_text(line)
        return Position(line, len(last))


def nodes_to_locate(plan: FixPlan, context: FileContext) -> list[cst.CSTNode]:
    """The nodes whose positions :func:`plan_to_fix` needs."""
    nodes: list[cst.CSTNode] = []
    for change in plan.changes:
        if isinstance(change, (Replace, Remove)):
            nodes.append(change.node)
        elif isinstance(change, (InsertBefore, InsertAfter, RemoveStatement)):
            nodes.append(change.statement)
        else:
            anchor = import_anchor(context.module)
            if anchor is not None:
                nodes.append(anchor)
    return nodes


def plan_to_fix(
    plan: FixPlan, positions: Positions, context: FileContext, lines: LineTable
) -> Fix | None:
    """The edits that carry out ``plan``; None when it changes nothing."""
    edits: list[Edit] = []
    newline = context.module.default_newline
    for change in plan.changes:
        if isinstance(change, Replace):
            where = positions[change.node]
            text = (
                change.new
                if isinstance(change.new, str)
                else render(_inside_parens(change.node, change.new), context.module, change.indent)
            )
            edits.append(_edit(where.start, where.end, text))
        elif isinstance(change, Remove):
            where = positions[change.node]
            edits.append(_edit(where.start, where.end, ""))
        elif isinstance(change, InsertBefore):
            where = positions[change.statement]
            line = where.start.line - _leading_line_count(change.statement)
            indent = lines.line_text(where.start.line)[: where.start.column]
            at = Position(line, 0)
            edits.append(Edit(at, at, f"{indent}{change.code}{newline}"))
        elif isinstance(change, InsertAfter):
            where = positions[change.statement]
            indent = lines.line_text(where.start.line)[: where.start.column]
            at = lines.after_line(where.end.line)
            last = lines.line_text(where.end.line)
            lead = "" if last.endswith(("\n", "\r")) else newline  # the file's last line
            edits.append(Edit(at, at, f"{lead}{indent}{change.code}{newline}"))
        elif isinstance(change, RemoveStatement):
            where = positions[change.statement]
            start = Position(where.start.line, 0)
            end = lines.after_line(where.end.line)
            indent = lines.line_text(where.start.line)[: where.start.column]
            text = f"{indent}pass{newline}" if change.replace_with_pass else ""
            edits.append(Edit(start, end, text))
        else:
            edit = _import_edit(change.module, positions, context, newline)
            if edit is not None:
                edits.append(edit)
    if not edits:
        return None
    return Fix(title=plan.title, edits=tuple(edits), applicability=plan.applicability)


def _inside_parens(old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode:
    """``new`` without the parentheses it shares with ``old``.

    An expression's position excludes its own parentheses (``(x)`` is located at ``x``), so a
    replacement built from ``old`` with ``with_changes`` would bring them in a second time.
    """
    if not isinstance(old, cst.BaseExpression) or not isinstance(new, cst.BaseExpression):
        return new  # e.g. ``from x import (a, b)``: those parentheses are part of the node
    old_left, old_right = getattr(old, "lpar", ()), getattr(old, "rpar", ())
    new_left, new_right = getattr(new, "lpar", ()), getattr(new, "rpar", ())
    count = len(old_left)
    if not count or len(old_right) != count or len(new_left) < count or len(new_right) < count:
        return new
    same = all(a.deep_equals(b) for a, b in zip(old_left, new_left[:count], strict=True)) and all(
        a.deep_equals(b) for a, b in zip(old_right, new_right[-count:], strict=True)
    )
    if not same:
        return new
    return new.with_changes(lpar=new_left[count:], rpar=new_right[:-count])


def _edit(start: CodePosition, end: CodePosition, text: str) -> Edit:
    return Edit(Position(start.line, start.column), Position(end.line, end.column), text)


def _leading_line_count(statement: cst.CSTNode) -> int:
    return len(getattr(statement, "leading_lines", ()))


def _import_edit(
    module_name: str, positions: Positions, context: FileContext, newline: str
) -> Edit | None:
    top = module_name.split(".")[0]
    if context.facts.names.aliases.get(top) == top:
        return None  # ``import torch`` (or ``import torch.x``) already binds the name
    anchor = import_anchor(context.module)
    text = f"import {module_name}{newline}"
    if anchor is None:
        source = context.source
        tail = "" if not source or source.endswith(("\n", "\r")) else newline
        all_lines = source_lines(source)
        end_line = len(all_lines) or 1
        last = all_lines[-1] if all_lines else ""
        at = Position(end_line, len(last))
        return Edit(at, at, tail + text)
    where = positions[anchor]
    is_import = isinstance(anchor, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in anchor.body
    )
    # Join an import block directly; above code, go above its comments and blank lines.
    line = where.start.line if is_import else where.start.line - _leading_line_count(anchor)
    at = Position(line, 0)
    return Edit(at, at, text)


def import_anchor(module: cst.Module) -> cst.BaseStatement | None:
    """The statement a new import goes before: the first after the docstring and __future__."""
    for index, statement in enumerate(module.body):
        if _is_docstring(statement) and index == 0:
            continue
        if _is_future_import(statement):
            continue
        return statement
    return None


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_future_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, cst.ImportFrom)
        and s.module is not None
        and isinstance(s.module, cst.Name)
        and s.module.value == "__future__"
        for s in statement.body
    )
