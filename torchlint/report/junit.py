"""JUnit XML, for CI systems that show test reports (GitLab ``artifacts:reports:junit``, Jenkins...).

One ``<testsuite>`` per file with findings and one ``<testcase>`` with a ``<failure>`` per finding.
A run without findings is one suite with one passing test case, so the report is never empty;
files that could not be checked are ``<error>`` test cases of a ``torchlint`` suite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from torchlint.diagnostics import RunResult
from torchlint.report._ci import Finding, column, display_path, findings, source_root, xml_safe


def _suite(parent: ET.Element, name: str, cases: int, failures: int, errors: int) -> ET.Element:
    return ET.SubElement(
        parent,
        "testsuite",
        name=xml_safe(name),
        tests=str(cases),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
    )


def render(run: RunResult, options: object) -> str:
    root = source_root()
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings(run, root):
        by_file[finding.path].append(finding)
    problems = [(display_path(path, root), message) for path, message in run.errors]
    problems += [(display_path(f.path, root), f.error) for f in run.files if f.error]
    problems += [
        (
            display_path(e.path, root),
            f"internal error in rule {e.rule}: "
            f"{e.message.splitlines()[0] if e.message else 'crashed'}",
        )
        for e in run.internal_errors
    ]
    total = sum(len(v) for v in by_file.values())
    suites = ET.Element(
        "testsuites",
        name="torchlint",
        tests=str(max(total, 1) + len(problems)),
        failures=str(total),
        errors=str(len(problems)),
    )
    for path, items in by_file.items():
        suite = _suite(suites, path, len(items), len(items), 0)
        for finding in items:
            d = finding.diagnostic
            case = ET.SubElement(
                suite,
                "testcase",
                name=xml_safe(
                    f"{d.code} {d.name} at {path}:{d.start.line}:{column(d.start.column)}"
                ),
                classname=xml_safe(path),
                file=xml_safe(path),
                line=str(d.start.line),
            )
            failure = ET.SubElement(case, "failure", message=xml_safe(d.message), type=d.code)
            failure.text = xml_safe(
                f"{path}:{d.start.line}:{column(d.start.column)}: {d.code} [{d.name}] {d.message}"
            )
    if problems or not total:
        suite = _suite(suites, "torchlint", len(problems) or 1, 0, len(problems))
        if not total and not problems:
            ET.SubElement(suite, "testcase", name="no findings", classname="torchlint")
        for path, message in problems:
            case = ET.SubElement(
                suite, "testcase", name=xml_safe(path), classname="torchlint", file=xml_safe(path)
            )
            error = ET.SubElement(case, "error", message=xml_safe(message))
            error.text = xml_safe(message)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
