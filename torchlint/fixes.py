"""Fix plans: what a rule wants changed, expressed on CST nodes.

A rule describes its fix on nodes while it visits; the engine turns the plan into text edits once
positions are known (positions are computed only for files that have findings).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from torchlint.diagnostics import Applicability


@dataclass(frozen=True)
class Replace:
    """Put ``new`` (code or a node) where ``node`` is."""

    node: cst.CSTNode
    new: str | cst.CSTNode
    indent: str = ""  # indentation of the block holding ``node``, for multi-line output


@dataclass(frozen=True)
class Remove:
    """Delete ``node``'s text (a keyword argument, say)."""

    node: cst.CSTNode


@dataclass(frozen=True)
class InsertBefore:
    """Insert a statement line before ``statement``, at the same indentation."""

    statement: cst.CSTNode
    code: str


@dataclass(frozen=True)
class InsertAfter:
    """Insert a statement line after ``statement``'s last line, at the same indentation."""

    statement: cst.CSTNode
    code: str


@dataclass(frozen=True)
class RemoveStatement:
    """Delete a whole statement line; ``replace_with_pass`` when it is the block's only one."""

    statement: cst.SimpleStatementLine
    replace_with_pass: bool = False


@dataclass(frozen=True)
class AddImport:
    """Ensure ``import <module>`` exists at the top of the file."""

    module: str


Change = Replace | Remove | InsertBefore | InsertAfter | RemoveStatement | AddImport


@dataclass(frozen=True)
class FixPlan:
    title: str
    applicability: Applicability
    changes: tuple[Change, ...] = field(default_factory=tuple)


def render(node: cst.CSTNode, module: cst.Module, indent: str = "") -> str:
    """The code of ``node`` as it would appear inside a block indented by ``indent``."""
    if not indent:
        return module.code_for_node(node)
    # Code generation indents a line (a statement's, a bracket's continuation line) by the
    # blocks around it: rendered inside a block of ``indent``, ``node``'s lines get it. The block
    # only sets the indentation (the code generator writes whatever its body holds), and its
    # header adds one newline before the body.
    block = cst.IndentedBlock(body=[node], indent=indent)  # type: ignore[list-item]
    header = module.code_for_node(block.header)
    return module.code_for_node(block)[len(header) :]


def add_keyword_argument(call: cst.Call, keyword: str, value: str) -> cst.Call:
    """``call`` with ``keyword=value`` appended, following the call's own comma style."""
    new_arg = cst.Arg(
        keyword=cst.Name(keyword),
        value=cst.parse_expression(value),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new_arg])
    last = args[-1]
    separator: cst.Comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma):
        separator = args[-2].comma  # multi-line calls keep one argument per line
    if isinstance(last.comma, cst.Comma):
        # A trailing comma stays trailing: it moves to the new last argument.
        args[-1] = last.with_changes(comma=separator if len(args) >= 2 else last.comma)
        new_arg = new_arg.with_changes(comma=last.comma)
    else:
        if len(args) == 1 and isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
            separator = cst.Comma(whitespace_after=call.whitespace_before_args)
        # Whitespace before the closing parenthesis follows the last argument.
        new_arg = new_arg.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        args[-1] = last.with_changes(comma=separator, whitespace_after_arg=cst.SimpleWhitespace(""))
    return call.with_changes(args=[*args, new_arg])
