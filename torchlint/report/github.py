"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` line per finding,
shown as an annotation on the pull request's diff.

``::error file=src/train.py,line=3,col=9,endLine=3,endColumn=30,title=TL201::message``

Paths are repository-relative (see ``_ci.source_root``); columns are 1-based, the end column
exclusive (as in the JSON format). Values are escaped as the workflow-command rules require.
"""

from __future__ import annotations

from torchlint.diagnostics import RunResult, Severity
from torchlint.report._ci import column, display_path, findings, source_root

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: object) -> str:
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{kind}{' ' + props if props else ''}::{escape_data(message)}"


def render(run: RunResult, options: object) -> str:
    root = source_root()
    lines: list[str] = []
    for finding in findings(run, root):
        d = finding.diagnostic
        end = d.end if d.end >= d.start else d.start
        lines.append(
            command(
                COMMANDS[d.severity],
                d.message,
                file=finding.path,
                line=d.start.line,
                col=column(d.start.column),
                endLine=end.line,
                endColumn=column(end.column),
                title=d.code,
            )
        )
    # Problems that stopped a file from being checked are annotations too (exit code 2).
    for path, message in run.errors:
        lines.append(command("error", message, file=display_path(path, root), title="torchlint"))
    for file in run.files:
        if file.error:
            lines.append(
                command("error", file.error, file=display_path(file.path, root), title="torchlint")
            )
    for error in run.internal_errors:
        first = error.message.splitlines()[0] if error.message else "crashed"
        lines.append(
            command(
                "error",
                f"internal error in rule {error.rule}: {first}",
                file=display_path(error.path, root),
                title="torchlint",
            )
        )
    return "".join(line + "\n" for line in lines)
