"""Lint (and fix) files on disk: the library function every door calls for paths."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.config import Settings, SettingsResolver
from torchlint.diagnostics import Diagnostic
from torchlint.engine import InternalError, fix_source, lint_source, syntax_error
from torchlint.files import discover
from torchlint.sources import SourceError, SourceFile, WriteRefused, read_source, write_source


@dataclass
class FileResult:
    path: str  # as shown to the user
    diagnostics: list[Diagnostic] = field(default_factory=list)
    internal_errors: list[InternalError] = field(default_factory=list)
    error: str | None = None  # could not be read or written
    warnings: list[str] = field(default_factory=list)
    applied: list[Diagnostic] = field(default_factory=list)  # fixes applied (or that would be)
    original: str | None = None
    fixed: str | None = None  # set when fixing changed the text


@dataclass
class RunResult:
    files: list[FileResult] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # path-level problems

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.diagnostics]

    @property
    def internal_errors(self) -> list[InternalError]:
        return [e for f in self.files for e in f.internal_errors]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.internal_errors or any(f.error for f in self.files))


@dataclass(frozen=True)
class Mode:
    fix: bool = False  # compute fixes
    write: bool = False  # write fixed files back
    unsafe: bool | None = None  # None: from settings


def display_path(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def process_source(
    source: str, display: str, settings: Settings, mode: Mode, rules_path: Path | None = None
) -> FileResult:
    """Lint or fix one text; used for files and for stdin."""
    result = FileResult(path=display, original=source)
    rules = settings.rules_for(rules_path or Path(display))
    unsafe = mode.unsafe if mode.unsafe is not None else bool(settings.unsafe_fixes)
    if mode.fix:
        outcome = fix_source(
            source,
            display,
            rules,
            unsafe=unsafe,
            torch_version=settings.torch_version,
            rule_options=settings.options,
        )
        result.diagnostics = outcome.remaining.diagnostics
        result.internal_errors = outcome.remaining.internal_errors
        result.applied = outcome.applied
        if outcome.source != source:
            result.fixed = outcome.source
        if not outcome.converged:
            result.warnings.append(
                f"fixes did not converge after {len(outcome.applied)} edits; "
                "some findings are left for a later run"
            )
        for rejected in outcome.rejected:
            result.warnings.append(
                f"{rejected.code} fix at line {rejected.start.line} was not applied: "
                "the result would not parse"
            )
    else:
        outcome = lint_source(
            source,
            display,
            rules,
            torch_version=settings.torch_version,
            rule_options=settings.options,
        )
        result.diagnostics = outcome.diagnostics
        result.internal_errors = outcome.internal_errors
    return result


def process_file(path: Path, settings: Settings, mode: Mode) -> FileResult:
    display = display_path(path)
    try:
        source: SourceFile = read_source(path)
    except SourceError as exc:
        if exc.is_content_problem:
            return FileResult(path=display, diagnostics=[syntax_error(display, str(exc))])
        return FileResult(path=display, error=str(exc))
    result = process_source(source.text, display, settings, mode, rules_path=path)
    if mode.write and result.fixed is not None:
        try:
            write_source(source, result.fixed)
        except (WriteRefused, OSError) as exc:
            result.error = f"fixes not written: {exc}"
            result.applied = []
            result.fixed = None
    return result


def run_paths(
    paths: Sequence[Path],
    resolver: SettingsResolver,
    mode: Mode,
    *,
    force_exclude: bool = False,
) -> RunResult:
    discovery = discover(paths, resolver.for_path, force_exclude=force_exclude)
    run = RunResult(errors=list(discovery.errors))
    for path in discovery.files:
        run.files.append(process_file(path, resolver.for_path(path), mode))
    return run
