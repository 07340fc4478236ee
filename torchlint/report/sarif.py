"""SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``) and other viewers.

- ``tool.driver.rules``: every registered rule (plus any other code a result uses), with the rule
  page as ``help`` and its "What it does" section as ``fullDescription`` (at most 1024 characters);
- results point at repository-relative URIs under ``%SRCROOT%`` (see ``_ci.source_root``), carry a
  ``primaryLocationLineHash`` that does not depend on line numbers, and the fix when there is one
  (a SARIF fix is an edit a viewer may apply: only safe and unsafe fixes are; a display-only
  suggestion goes in the result's ``properties``, as ``suggestion``);
- columns count Unicode code points (``columnKind``), 1-based, end column exclusive.

Suppressed findings never reach a reporter, so they are not in the log.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torchlint import __version__
from torchlint.diagnostics import (
    Applicability,
    Category,
    Diagnostic,
    Edit,
    Precision,
    RunResult,
    Severity,
)
from torchlint.docs import doc_section, rule_doc
from torchlint.measured import sarif_precision
from torchlint.registry import all_rules
from torchlint.report._ci import column, findings, source_root, uri_of
from torchlint.rule import Rule

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


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto|file):[^>\s]+)>")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")


def _inline_text(text: str) -> str:
    """One line of Markdown prose without its inline syntax; code spans keep their content."""

    def prose(part: str) -> str:
        part = _LINK.sub(lambda m: f"{m[1]} ({m[2]})" if m[1] and m[1] != m[2] else m[2], part)
        part = _AUTOLINK.sub(r"\1", part)
        part = _STRONG.sub(r"\1", part)
        part = _EMPHASIS.sub(r"\1", part)
        return _ESCAPE.sub(r"\1", part)

    out, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(prose(text[last : match.start()]))
        out.append(match[2].strip() if match[2].strip() else match[2])
        last = match.end()
    out.append(prose(text[last:]))
    return "".join(out)


def markdown_to_text(markdown: str) -> str:
    """A rule page as plain text (SARIF ``help.text``): headings as their title, no backticks,
    emphasis or link syntax (a link's address follows its text), code blocks indented by four."""
    lines: list[str] = []
    paragraph: list[str] = []  # inline syntax (a code span) may run over a line break

    def flush() -> None:
        if paragraph:
            lines.extend(line.rstrip() for line in _inline_text("\n".join(paragraph)).split("\n"))
            paragraph.clear()

    fence: str | None = None
    for line in markdown.splitlines():
        marker = _FENCE.match(line)
        if fence is not None:
            if marker and marker[1][0] == fence[0] and len(marker[1]) >= len(fence):
                if not line.strip().lstrip(fence[0]):
                    fence = None
                    continue
            lines.append(f"    {line}" if line.strip() else "")
            continue
        heading = _HEADING.match(line)
        if marker or heading or not line.strip():
            flush()
            if marker:
                fence = marker[1]
            else:
                lines.append(_inline_text(heading[1]).rstrip() if heading else "")
            continue
        paragraph.append(line)
    flush()
    return "\n".join(lines).strip("\n") + "\n"


def rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    doc = rule_doc(rule)
    what = doc_section(doc, "What it does")
    full = _plain(what) if what else rule.summary
    tags = [rule.category.value]
    if rule.preview:
        tags.append("preview")
    # Measured on real code where the ecosystem check judged the rule; declared otherwise.
    precision = sarif_precision(rule.code) or PRECISION[rule.precision]
    properties: dict[str, Any] = {"tags": tags, "precision": precision}
    if rule.category is Category.SECURITY:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    else:
        properties["problem.severity"] = PROBLEM_SEVERITY[rule.severity]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": truncate(rule.summary)},
        "fullDescription": {"text": truncate(full)},
        "help": {"text": markdown_to_text(doc), "markdown": doc},
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
    properties: dict[str, Any] = {}
    fix = d.fix
    if fix is not None and fix.edits and fix.applicability is not Applicability.DISPLAY_ONLY:
        result["fixes"] = [
            {
                "description": {"text": fix.title},
                "artifactChanges": [
                    {
                        "artifactLocation": _artifact(d.path, root),
                        "replacements": [_replacement(e) for e in fix.edits],
                    }
                ],
            }
        ]
        properties["fixApplicability"] = fix.applicability.value
        if d.suggestion:
            properties["suggestion"] = d.suggestion
    elif fix is not None:
        # A display-only fix is advice, not an edit to apply: no SARIF fix, its title is kept.
        properties["fixApplicability"] = fix.applicability.value
        properties["suggestion"] = fix.title
        if d.suggestion and d.suggestion != fix.title:
            properties["suggestionDetail"] = d.suggestion
    elif d.suggestion:
        properties["suggestion"] = d.suggestion
    if properties:
        result["properties"] = properties
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
