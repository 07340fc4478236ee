"""torchlint's public entry points for one source text: :func:`lint_source` and :func:`fix_source`.

The doors (CLI, LSP, pre-commit, CI reporters) call these, or :mod:`torchlint.runner`, which
applies them to files. The work is done in one module per concern:

- :mod:`torchlint.parsing`: screen and parse a text; TL000 findings for one that cannot be parsed;
- :mod:`torchlint.dispatch`: run the enabled rules in one traversal; apply suppressions (and TL900);
- :mod:`torchlint.locate`: locate the rules' reports and make them diagnostics;
- :mod:`torchlint.fix_edits`: turn fix plans (:mod:`torchlint.fixes`) into edits, place imports;
- :mod:`torchlint.edits`: apply edits to a text;
- :mod:`torchlint.lint` and :mod:`torchlint.fix_loop`: the lint pipeline and the fix loop.
"""

from __future__ import annotations

from torchlint.diagnostics import FixOutcome, InternalError, LintOutcome
from torchlint.edits import apply_edits
from torchlint.fix_loop import fix_source
from torchlint.lint import lint_source

__all__ = [
    "FixOutcome",
    "InternalError",
    "LintOutcome",
    "apply_edits",
    "fix_source",
    "lint_source",
]
