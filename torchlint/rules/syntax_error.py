"""TL000 ``syntax-error``: the rule record of a file that does not parse.

The engine reports a syntax error itself, before and without any rule (a file that does not
parse has no tree for a rule to visit). This class exists so that TL000 is a known rule like the
others: ``torchlint rules`` lists it, ``torchlint rule TL000`` prints its page, and selectors in
``ignore`` / ``per-file-ignores`` and ``# noqa`` comments may name it.

Unlike the other rules, TL000 is enabled whatever ``select`` says: a file that cannot be checked is
always worth knowing about. It is turned off only by naming it exactly (``TL000`` or
``syntax-error``) in ``ignore`` or ``per-file-ignores``, or in a ``# noqa`` comment on the reported
line; a prefix (``TL0``) or ``ALL`` does not turn it off. :mod:`torchlint.runner` applies this to
the engine's findings.
"""

from __future__ import annotations

from torchlint.diagnostics import (
    SYNTAX_ERROR_CODE,
    SYNTAX_ERROR_NAME,
    Category,
    Precision,
    Severity,
)
from torchlint.rule import Rule


class SyntaxErrorRule(Rule):
    code = SYNTAX_ERROR_CODE
    name = SYNTAX_ERROR_NAME
    summary = (
        "The file cannot be parsed as Python (or read as Python text), so no other rule checks it"
    )
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    preview = False
    fix_applicability = None
    # Never a candidate for the rule traversal: the engine handles a text holding a NUL before it
    # looks at any rule, and every other text lacks this needle. The engine reports syntax errors
    # on its own.
    needles = ("\x00",)
