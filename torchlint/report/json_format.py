"""JSON in the shape of ``ruff check --output-format json``, plus ``name`` and ``severity``.

``url`` is the rule's page on the documentation site (``[project.urls] Documentation``), the
same link the language server gives as a diagnostic's ``codeDescription``
(``torchlint.docs.doc_href``); null for codes without a rule page.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from torchlint.diagnostics import Diagnostic, Position, RunResult


def _location(position: Position) -> dict[str, int]:
    return {"row": position.line, "column": position.column + 1}


@cache
def rule_url(code: str) -> str | None:
    """The documentation link of rule ``code``, as the language server gives it.

    A shipped page is found without importing any rule (a warm run imports neither LibCST nor the
    rules); a plug-in rule without one may name its own ``url``.
    """
    from torchlint.docs import doc_href, page_href

    href = page_href(code)
    if href is not None:
        return href
    from torchlint.registry import find_rule

    return doc_href(find_rule(code))


def diagnostic_to_dict(d: Diagnostic) -> dict[str, Any]:
    fix = None
    if d.fix is not None:
        fix = {
            "applicability": d.fix.applicability.value,
            "message": d.fix.title,
            "edits": [
                {
                    "content": e.content,
                    "location": _location(e.start),
                    "end_location": _location(e.end),
                }
                for e in d.fix.edits
            ],
        }
    return {
        "cell": d.cell,
        "code": d.code,
        "name": d.name,
        "severity": d.severity.value,
        "message": d.message,
        "filename": os.path.abspath(d.path) if d.path != "-" else d.path,
        "location": _location(d.start),
        "end_location": _location(d.end),
        "fix": fix,
        "noqa_row": d.start.line,
        "url": rule_url(d.code),
    }


def render(run: RunResult, options: object) -> str:
    return json.dumps([diagnostic_to_dict(d) for d in run.diagnostics], indent=2) + "\n"
