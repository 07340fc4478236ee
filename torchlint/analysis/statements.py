"""What a statement is, read from its shape alone."""

from __future__ import annotations

import libcst as cst


def is_docstring(statement: cst.CSTNode) -> bool:
    """A statement line holding only a string literal (a docstring where it comes first)."""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )
