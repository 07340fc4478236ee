"""SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``) and other viewers.

- ``tool.driver.rules``: every registered rule (plus any other code a result uses), with the rule
  page as ``help`` and its "What it does" section as ``fullDescription`` (at most 1024 characters);
- results point at repository-relative URIs under ``%SRCROOT%`` (see ``_ci.source_root``), carry a
  ``primaryLocationLineHash`` that does not depend on line numbers, and the fix when there is one;
- columns count Unicode code points (``columnKind``), 1-based, end column exclusive.

Suppressed findings never reach a reporter, so they are not in the log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torchlint import __version__
from torchlint.diagnostics import Category, Diagnostic, Edit, Precision, Severity
from torchlint.docs import doc_section, rule_doc
from torchlint.registry import all_rules
from torchlint.report._ci import column, findings, source_root, uri_of
from torchlint.rule import Rule
from torchlint.runner import RunResult

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
MAX_DESCRIPTION = 1024  # GitHub code scanning truncates longer descriptions

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub: "problem.severity" for non-security alerts, "security-severity" (0.0-10.0) for security ones.
PROBLEM_SEVERITY = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "recommendation",
}
SECURITY_SEVERITY = {Severity.ERROR: "8.0", Severity.WARNING: "5.0", Severity.INFO: "2.0"}
# GitHub's precision values are very-high, high, medium and low.
PRECISION = {Precision.HIGH: "high", Precision.MEDIUM: "medium", Precision.HEURISTIC: "low"}


def truncate(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` cut at a word boundary so that it, with an ellipsis, fits in ``limit`` characters."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rstrip().rfind(" ")]
    return cut.rstrip() + "\u2026"


def _plain(markdown: str) -> str:
    """Rule prose for the plain-text fields: paragraphs joined, Markdown line breaks removed."""
    paragraphs = [" ".join(p.split()) for p in markdown.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    doc = rule_doc(rule)
    what = doc_section(doc, "What it does")
    full = _plain(what) if what else rule.summary
    tags = [rule.category.value]
    if rule.preview:
        tags.append("preview")
    properties: dict[str, Any] = {"tags": tags, "precision": PRECISION[rule.precision]}
    if rule.category is Category.SECURITY:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    else:
        properties["problem.severity"] = PROBLEM_SEVERITY[rule.severity]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": truncate(rule.summary)},
        "fullDescription": {"text": truncate(full)},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": properties,
    }


def _ad_hoc_descriptor(d: Diagnostic) -> dict[str, Any]:
    """For codes that are not registered rules (TL000 syntax-error, a removed plug-in)."""
    text = f"{d.code} {d.name}"
    category = d.category or Category.CORRECTNESS.value
    return {
        "id": d.code,
        "name": d.name,
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": text, "markdown": text},
        "defaultConfiguration": {"level": LEVELS[d.severity]},
        "properties": {
            "tags": [category],
            "precision": "high",
            "problem.severity": PROBLEM_SEVERITY[d.severity],
        },
    }


def _region(start_line: int, start_col0: int, end_line: int, end_col0: int) -> dict[str, int]:
    return {
        "startLine": start_line,
        "startColumn": column(start_col0),
        "endLine": end_line,
        "endColumn": column(end_col0),
    }


def _artifact(path: str, root: Path) -> dict[str, str]:
    uri, relative = uri_of(path, root)
    return {"uri": uri, "uriBaseId": SRCROOT} if relative else {"uri": uri}


def _replacement(edit: Edit) -> dict[str, Any]:
    return {
        "deletedRegion": _region(
            edit.start.line, edit.start.column, edit.end.line, edit.end.column
        ),
        "insertedContent": {"text": edit.content},
    }


def _result(d: Diagnostic, index: int, line_hash: str, root: Path) -> dict[str, Any]:
    end = d.end if d.end >= d.start else d.start
    result: dict[str, Any] = {
        "ruleId": d.code,
        "ruleIndex": index,
        "level": LEVELS[d.severity],
        "message": {"text": d.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": _artifact(d.path, root),
                    "region": _region(d.start.line, d.start.column, end.line, end.column),
                }
            }
        ],
        "partialFingerprints": {"primaryLocationLineHash": line_hash},
    }
    if d.fix is not None and d.fix.edits:
        result["fixes"] = [
            {
                "description": {"text": d.fix.title},
                "artifactChanges": [
                    {
                        "artifactLocation": _artifact(d.path, root),
                        "replacements": [_replacement(e) for e in d.fix.edits],
                    }
                ],
            }
        ]
        result["properties"] = {"fixApplicability": d.fix.applicability.value}
    elif d.suggestion:
        result["properties"] = {"suggestion": d.suggestion}
    return result


def _notifications(run: RunResult, root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def note(path: str, message: str) -> None:
        out.append(
            {
                "level": "error",
                "message": {"text": message},
                "locations": [{"physicalLocation": {"artifactLocation": _artifact(path, root)}}],
            }
        )

    for path, message in run.errors:
        note(path, message)
    for file in run.files:
        if file.error:
            note(file.path, file.error)
    for error in run.internal_errors:
        first = error.message.splitlines()[0] if error.message else "crashed"
        note(error.path, f"internal error in rule {error.rule}: {first}")
    return out


def sarif_log(run: RunResult, root: Path | None = None) -> dict[str, Any]:
    root = root if root is not None else source_root()
    descriptors = [rule_descriptor(rule) for rule in all_rules()]
    index = {descriptor["id"]: i for i, descriptor in enumerate(descriptors)}
    results = []
    for finding in findings(run, root):
        d = finding.diagnostic
        if d.code not in index:
            index[d.code] = len(descriptors)
            descriptors.append(_ad_hoc_descriptor(d))
        results.append(_result(d, index[d.code], finding.line_hash, root))
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "torchlint",
                        "version": __version__,
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "invocations": [
                    {
                        "executionSuccessful": not run.has_errors,
                        "toolExecutionNotifications": _notifications(run, root),
                    }
                ],
                "results": results,
            }
        ],
    }


def render(run: RunResult, options: object) -> str:
    return json.dumps(sarif_log(run), indent=2, ensure_ascii=False) + "\n"
