"""GitLab Code Quality report (``artifacts:reports:codequality``): a JSON list of issues.

Each issue: ``description``, ``check_name``, ``fingerprint`` (stable when unrelated lines move),
``severity`` (``info``/``minor``/``major``/``critical``/``blocker``) and ``location`` with a
repository-relative ``path`` and ``lines.begin``/``lines.end``.
"""

from __future__ import annotations

import json
from typing import Any

from torchlint.diagnostics import Category, RunResult, Severity
from torchlint.report._ci import Finding, findings, source_root

SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}
CATEGORIES = {
    Category.CORRECTNESS.value: "Bug Risk",
    Category.PERFORMANCE.value: "Performance",
    Category.SECURITY.value: "Security",
    Category.DEPRECATED_API.value: "Compatibility",
    Category.REPRODUCIBILITY.value: "Bug Risk",
    Category.DEVICE.value: "Compatibility",
}


def severity(finding: Finding) -> str:
    d = finding.diagnostic
    if d.severity is Severity.ERROR and d.category == Category.SECURITY.value:
        return "critical"
    return SEVERITY[d.severity]


def issue(finding: Finding) -> dict[str, Any]:
    d = finding.diagnostic
    end_line = max(d.end.line, d.start.line)
    return {
        "type": "issue",
        "description": f"{d.code} [{d.name}] {d.message}",
        "check_name": d.code,
        "categories": [CATEGORIES.get(d.category, "Bug Risk")],
        "fingerprint": finding.fingerprint,
        "severity": severity(finding),
        "location": {"path": finding.path, "lines": {"begin": d.start.line, "end": end_line}},
    }


def render(run: RunResult, options: object) -> str:
    issues = [issue(f) for f in findings(run, source_root())]
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
