"""Output formats. Each reporter module exposes ``render(run, options) -> str``.

Adding a format: write ``torchlint/report/<name>.py`` with ``render`` and add it to ``FORMATS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from torchlint.diagnostics import RunResult

# format name -> module under torchlint.report
FORMATS: dict[str, str] = {
    "text": "text",
    "concise": "text",
    "json": "json_format",
    "json-lines": "json_lines",
    "sarif": "sarif",
    "github": "github",
    "gitlab": "gitlab",
    "junit": "junit",
}


@dataclass(frozen=True)
class ReportOptions:
    color: bool = False
    unsafe_fixes: bool = False  # whether unsafe fixes count as applicable
    show_fixes: bool = False
    statistics: bool = False
    fixing: bool = False  # --fix was given
    concise: bool = False
    quiet: bool = False


def render(format_name: str, run: RunResult, options: ReportOptions) -> str:
    module = importlib.import_module(f"torchlint.report.{FORMATS[format_name]}")
    if format_name == "concise":
        options = ReportOptions(**{**options.__dict__, "concise": True})
    text: str = module.render(run, options)
    return text
