"""The terminal format: ruff-like findings with the source line, a caret underline and a hint."""

from __future__ import annotations

from collections import Counter

import click

from torchlint.diagnostics import Applicability, Diagnostic, FileResult, RunResult
from torchlint.lines import source_lines
from torchlint.report import ReportOptions
from torchlint.terminal import printable


def _style(text: str, color: bool, **kwargs: object) -> str:
    return click.style(text, **kwargs) if color else text  # type: ignore[arg-type]


def _applicable(d: Diagnostic, unsafe: bool) -> bool:
    return d.fix is not None and d.fix.is_applied_with(unsafe)


def _snippet(d: Diagnostic, source: str | None, color: bool) -> list[str]:
    if not source:
        return []
    lines = source_lines(source)
    if not 0 < d.start.line <= len(lines):
        return []
    raw = lines[d.start.line - 1].expandtabs(1)
    number = str(d.start.line)
    gutter = " " * len(number)
    end = d.end.column if d.end.line == d.start.line else len(raw.rstrip())
    # Control characters are shown escaped; the carets follow the escaped text.
    text = printable(raw)
    start = len(printable(raw[: d.start.column]))
    width = max(len(printable(raw[:end])) - start, 1)
    carets = " " * start + "^" * width
    bar = _style("|", color, fg="blue", bold=True)
    return [
        f"{gutter} {bar}",
        f"{_style(number, color, fg='blue', bold=True)} {bar} {text}",
        f"{gutter} {bar} {_style(carets, color, fg='red', bold=True)} "
        + _style(d.code, color, fg="red", bold=True),
        f"{gutter} {bar}",
    ]


def _hint(d: Diagnostic) -> str | None:
    if d.fix is not None:
        kind = {
            Applicability.SAFE: "safe fix",
            Applicability.UNSAFE: "unsafe fix",
            Applicability.DISPLAY_ONLY: "suggestion",
        }[d.fix.applicability]
        return f"{d.fix.title} ({kind})"
    return d.suggestion


def format_diagnostic(
    d: Diagnostic, source: str | None, color: bool, unsafe: bool, concise: bool
) -> list[str]:
    cell = f"cell {d.cell}:" if d.cell is not None else ""
    location = f"{printable(d.path)}:{cell}{d.start.line}:{d.start.column + 1}:"
    if d.cell is not None:
        from torchlint.notebook_files import cell_source

        source = cell_source(source, d.cell)
    marker = " [*]" if _applicable(d, unsafe) else ""
    head = (
        f"{_style(location, color, bold=True)} {_style(d.code, color, fg='red', bold=True)}"
        f"{marker} [{d.name}] {printable(d.message)}"
    )
    if concise:
        return [head]
    out = [head, *_snippet(d, source, color)]
    hint = _hint(d)
    if hint:
        gutter = " " * len(str(d.start.line))
        out.append(f"{gutter} = {_style('help', color, fg='cyan', bold=True)}: {printable(hint)}")
    out.append("")
    return out


def _nothing_found(run: RunResult) -> str:
    # "All checks passed!" would be a lie when a path could not be read or a rule crashed.
    errors = len(run.errors) + len(run.internal_errors) + sum(1 for f in run.files if f.error)
    if errors:
        return f"No problems found in what could be checked ({_plural(errors, 'error')})."
    return "All checks passed!"


def _hidden_fixes(remaining: list[Diagnostic], unsafe: bool) -> str | None:
    """ruff's hint for unsafe fixes left out, or None when there are none (or they are on)."""
    hidden = sum(
        1
        for d in remaining
        if not unsafe and d.fix is not None and d.fix.applicability is Applicability.UNSAFE
    )
    if not hidden:
        return None
    return (
        f"{_plural(hidden, 'hidden fix', 'hidden fixes')} can be enabled with the "
        "`--unsafe-fixes` option"
    )


def summary(run: RunResult, unsafe: bool, fixing: bool) -> str:
    remaining = run.diagnostics
    fixed = sum(len(f.applied) for f in run.files)
    hidden = _hidden_fixes(remaining, unsafe)
    if fixing:
        total = len(remaining) + fixed
        if total == 0:
            return _nothing_found(run)
        counts = f"{fixed} fixed, {len(remaining)} remaining"
        if hidden:
            counts += f"; {hidden}"
        return f"Found {_plural(total, 'problem')} ({counts})."
    if not remaining:
        return _nothing_found(run)
    safe = sum(1 for d in remaining if _applicable(d, unsafe))
    parts = []
    if safe:
        parts.append(f"{safe} fixable with the `--fix` option")
    if hidden:
        parts.append(hidden)
    tail = f" ({'; '.join(parts)})" if parts else ""
    return f"Found {_plural(len(remaining), 'problem')}{tail}."


def fix_only_summary(run: RunResult, unsafe: bool) -> str:
    """The one line ``--fix-only`` prints: how many fixes were applied (and which were not)."""
    fixed = sum(len(f.applied) for f in run.files)
    hidden = _hidden_fixes(run.diagnostics, unsafe)
    tail = f" ({hidden})" if hidden else ""
    return f"Fixed {_plural(fixed, 'problem')}{tail}."


def applied_fixes(run: RunResult) -> list[str]:
    """The ``--show-fixes`` listing: every fix applied, by file and position."""
    applied = [(f.path, d) for f in run.files for d in f.applied]
    if not applied:
        return []
    lines = ["Fixed:"]
    for path, d in applied:
        lines.append(
            f"  {printable(path)}:{d.start.line}:{d.start.column + 1}: {d.code} "
            + printable(d.fix.title if d.fix else "")
        )
    lines.append("")
    return lines


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def statistics(run: RunResult, unsafe: bool) -> list[str]:
    counts = Counter((d.code, d.name) for d in run.diagnostics)
    fixable = {d.code for d in run.diagnostics if _applicable(d, unsafe)}
    width = max((len(str(n)) for n in counts.values()), default=1)
    return [
        f"{n:>{width}}\t{code}\t{'[*] ' if code in fixable else '[ ] '}{name}"
        for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def render(run: RunResult, options: ReportOptions) -> str:
    lines: list[str] = []
    if options.statistics:
        lines.extend(statistics(run, options.unsafe_fixes))
    else:
        for file in run.files:
            lines.extend(_file_lines(file, options))
        if options.show_fixes:
            lines.extend(applied_fixes(run))
    if not options.quiet:
        lines.append(summary(run, options.unsafe_fixes, options.fixing))
    return "\n".join(lines) + "\n" if lines else ""


def _file_lines(file: FileResult, options: ReportOptions) -> list[str]:
    source = file.fixed if file.fixed is not None else file.original
    out: list[str] = []
    for d in file.diagnostics:
        out.extend(
            format_diagnostic(d, source, options.color, options.unsafe_fixes, options.concise)
        )
    return out


def render_fix_only(run: RunResult, options: ReportOptions) -> str:
    """``--fix-only``: the fixes applied (with ``--show-fixes``) and their count, no findings."""
    lines = applied_fixes(run) if options.show_fixes else []
    if not options.quiet:
        lines.append(fix_only_summary(run, options.unsafe_fixes))
    return "\n".join(lines) + "\n" if lines else ""
