"""Lint (and fix) files on disk: the library function every door calls for paths."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from torchlint.cache import CACHE_DIR_NAME, Cache, entry_key
from torchlint.config import Settings, SettingsResolver
from torchlint.diagnostics import Diagnostic
from torchlint.files import discover
from torchlint.registry import load_rules
from torchlint.sources import SourceError, SourceFile, WriteRefused, read_source, write_source

if TYPE_CHECKING:
    # The engine (and with it LibCST and every rule) is imported only when a file must be linted:
    # a run answered from the cache never needs it.
    from torchlint.engine import InternalError


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
    from torchlint.engine import fix_source, lint_source

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


def _cache_key(source: SourceFile, settings: Settings, path: Path) -> str:
    return entry_key(
        source.digest,
        settings.rules_for(path),
        settings.torch_version,
        settings.rule_options,
        "check",
    )


def cached_result(path: Path, settings: Settings, mode: Mode, cache_dir: Path) -> FileResult | None:
    """The cached result for ``path`` when one is valid; None means the file must be linted."""
    display = display_path(path)
    try:
        source = read_source(path)
    except SourceError:
        return None  # the worker reports it
    cached = Cache(cache_dir).load(_cache_key(source, settings, path), display)
    if cached is None:
        return None
    unsafe = mode.unsafe if mode.unsafe is not None else bool(settings.unsafe_fixes)
    if mode.fix and any(d.fix is not None and d.fix.is_applied_with(unsafe) for d in cached):
        return None
    return FileResult(path=display, diagnostics=cached, original=source.text)


def process_file(
    path: Path, settings: Settings, mode: Mode, cache_dir: Path | None = None
) -> FileResult:
    """Lint (or fix) one file; ``cache_dir`` enables the results cache."""
    display = display_path(path)
    try:
        source: SourceFile = read_source(path)
    except SourceError as exc:
        if exc.is_content_problem:
            from torchlint.engine import syntax_error

            return FileResult(path=display, diagnostics=[syntax_error(display, str(exc))])
        return FileResult(path=display, error=str(exc))
    cache = Cache(cache_dir) if cache_dir is not None else None
    key = _cache_key(source, settings, path) if cache is not None else ""
    if cache is not None:
        cached = cache.load(key, display)
        unsafe = mode.unsafe if mode.unsafe is not None else bool(settings.unsafe_fixes)
        if cached is not None and not (
            mode.fix and any(d.fix is not None and d.fix.is_applied_with(unsafe) for d in cached)
        ):
            return FileResult(path=display, diagnostics=cached, original=source.text)
    result = process_source(source.text, display, settings, mode, rules_path=path)
    if cache is not None and result.fixed is None and not result.internal_errors:
        cache.store(key, result.diagnostics)
    if mode.write and result.fixed is not None:
        try:
            write_source(source, result.fixed)
        except (WriteRefused, OSError) as exc:
            result.error = f"fixes not written: {exc}"
            result.applied = []
            result.fixed = None
    return result


def default_jobs() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Below this many files a process pool costs more than it saves.
PARALLEL_THRESHOLD = 8


def _work(task: tuple[Path, Settings, Mode, Path | None]) -> FileResult:
    return process_file(*task)


def run_paths(
    paths: Sequence[Path],
    resolver: SettingsResolver,
    mode: Mode,
    *,
    force_exclude: bool = False,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Lint every file under ``paths``; results come back in discovery order."""
    discovery = discover(paths, resolver.for_path, force_exclude=force_exclude)
    run = RunResult(errors=list(discovery.errors))
    tasks = []
    for path in discovery.files:
        settings = resolver.for_path(path)
        directory = None
        if use_cache:
            directory = cache_dir if cache_dir is not None else settings.root / CACHE_DIR_NAME
        tasks.append((path, settings, mode, directory))
    total = len(tasks)
    results: list[FileResult | None] = [None] * total
    # Cache hits are answered here: a warm run never starts a worker.
    misses: list[int] = []
    for index, task in enumerate(tasks):
        path, settings, task_mode, directory = task
        hit = cached_result(path, settings, task_mode, directory) if directory else None
        if hit is None:
            misses.append(index)
        else:
            results[index] = hit
    done = total - len(misses)
    if progress is not None and done:
        progress(done, total)
    workers = min(jobs or default_jobs(), len(misses))
    if workers <= 1 or len(misses) < PARALLEL_THRESHOLD:
        for index in misses:
            results[index] = _work(tasks[index])
            done += 1
            if progress is not None:
                progress(done, total)
    else:
        chunk = max(1, min(16, len(misses) // (workers * 8)))
        # Import the engine and the enabled rules once, here: forked workers inherit them.
        import torchlint.engine  # noqa: F401

        for settings in {id(tasks[i][1]): tasks[i][1] for i in misses}.values():
            load_rules(settings.rules)
        with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
            outputs = pool.map(_work, [tasks[i] for i in misses], chunksize=chunk)
            for index, result in zip(misses, outputs, strict=True):
                results[index] = result
                done += 1
                if progress is not None:
                    progress(done, total)
    run.files = [r for r in results if r is not None]
    return run


def _context() -> multiprocessing.context.BaseContext:
    # fork shares the already-imported LibCST with the workers: no per-worker import cost.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
