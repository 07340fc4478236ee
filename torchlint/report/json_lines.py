"""JSON Lines: one finding per line, each the same object as in ``--output-format json``."""

from __future__ import annotations

import json

from torchlint.diagnostics import RunResult
from torchlint.report.json_format import diagnostic_to_dict


def render(run: RunResult, options: object) -> str:
    return "".join(
        json.dumps(diagnostic_to_dict(d), ensure_ascii=False) + "\n" for d in run.diagnostics
    )
