"""Lint (and fix) files on disk: the library function every door calls for paths."""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.context
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING

from torchlint.cache import CACHE_DIR_NAME, Cache, cache_dir_problem, entry_key
from torchlint.config import Settings, SettingsResolver
from torchlint.diagnostics import (
    SYNTAX_ERROR_CODE,
    SYNTAX_ERROR_NAME,
    Diagnostic,
    FileResult,
    InternalError,
    RunResult,
    syntax_error,
)
from torchlint.files import NOTEBOOK_SUFFIX, discover
from torchlint.registry import load_rules
from torchlint.sources import (
    MAX_FILE_BYTES,
    SourceError,
    SourceFile,
    WriteRefused,
    read_source,
    write_source,
)

if TYPE_CHECKING:
    from torchlint.incremental import IncrementalParser


@dataclass(frozen=True)
class RunMode:
    fix: bool = False  # compute fixes
    write: bool = False  # write fixed files back
    unsafe: bool | None = None  # None: from settings
    # The real paths of the directories given (a file's own directory): where --fix writes when
    # the settings forbid following links out of them.
    write_within: tuple[str, ...] = ()


def display_path(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def process_source(
    source: str,
    display: str,
    settings: Settings,
    mode: RunMode,
    rules_path: Path | None = None,
    reuse: IncrementalParser | None = None,
) -> FileResult:
    """Lint or fix one text; used for files, stdin and editors (which pass ``reuse``, the
    parse state of the document's earlier versions). ``rules_path`` (else ``display``) is the
    path the settings are applied for."""
    path = rules_path or Path(display)
    return _process(source, display, settings, mode, path, settings.is_test_code(path), reuse)


def _process(
    source: str,
    display: str,
    settings: Settings,
    mode: RunMode,
    path: Path,
    test_code: bool,
    reuse: IncrementalParser | None = None,
) -> FileResult:
    result = FileResult(path=display, original=source)
    # The engine (and with it LibCST and every rule) is imported only when a file must be linted:
    # a run answered from the cache never needs it.
    from torchlint.engine import fix_source, lint_source
    from torchlint.project_index import shared_index

    rules = settings.rules_for(path)
    unsafe = mode.unsafe if mode.unsafe is not None else bool(settings.unsafe_fixes)
    # The project's other files, for rules that look at what this one imports from them.
    project = shared_index(settings.src_roots)
    if mode.fix:
        fixed = fix_source(
            source,
            display,
            rules,
            unsafe=unsafe,
            torch_version=settings.torch_version,
            rule_options=settings.options,
            test_code=test_code,
            project=project,
        )
        result.diagnostics = fixed.remaining.diagnostics
        result.internal_errors = fixed.remaining.internal_errors
        result.applied = fixed.applied
        if fixed.source != source:
            result.fixed = fixed.source
        if not fixed.converged:
            result.warnings.append(
                f"fixes did not converge after {len(fixed.applied)} edits; "
                "some findings are left for a later run"
            )
        for rejected in fixed.rejected:
            result.warnings.append(
                f"{rejected.code} fix at line {rejected.start.line} was not applied: "
                "the result would not parse"
            )
    else:
        linted = lint_source(
            source,
            display,
            rules,
            torch_version=settings.torch_version,
            rule_options=settings.options,
            test_code=test_code,
            reuse=reuse,
            project=project,
        )
        result.diagnostics = linted.diagnostics
        result.internal_errors = linted.internal_errors
    return apply_syntax_error_policy(result, settings, path)


def process_text(
    source: str,
    display: str,
    settings: Settings,
    mode: RunMode,
    path: Path,
    test_code: bool | None = None,
) -> FileResult:
    """Lint or fix a file's text: a notebook (``.ipynb``) through its code cells (see
    torchlint/notebook_files.py), anything else as Python."""
    if path.name.endswith(NOTEBOOK_SUFFIX):
        from torchlint.notebook_files import ProgramMode, process_notebook_text

        unsafe = mode.unsafe if mode.unsafe is not None else bool(settings.unsafe_fixes)
        program_mode = ProgramMode(mode.fix, unsafe)
        return process_notebook_text(
            source, display, settings, program_mode, path, apply_syntax_error_policy
        )
    test_code = settings.is_test_code(path) if test_code is None else test_code
    return _process(source, display, settings, mode, path, test_code)


# A notebook's outputs (plots as base64 images) make files far larger than their code: the limit
# that keeps parsing cheap for .py files would turn many notebooks away.
NOTEBOOK_MAX_BYTES = 64 * 1024 * 1024


def _max_bytes(path: Path) -> int:
    return NOTEBOOK_MAX_BYTES if path.name.endswith(NOTEBOOK_SUFFIX) else MAX_FILE_BYTES


def _cache_key(source: SourceFile, settings: Settings, path: Path, test_code: bool) -> str:
    # The resolved path is in the key: rules read the path (test files, torch/utils/data/), so
    # the same content elsewhere is another entry. Resolved, so the cwd or a symlink spelling of
    # one file does not matter. The project files it imports are in the key too: rules read what
    # their classes and functions do (editing models/base.py re-checks train.py).
    from torchlint.project_index import shared_index

    imported = shared_index(settings.src_roots).dependency_fingerprint(path, source.text)
    return entry_key(
        source.digest,
        os.path.realpath(path),
        settings.rules_for(path),
        settings.torch_version,
        (settings.rule_options, test_code, imported),
        "check",
    )


def _answers(cached: list[Diagnostic], settings: Settings, mode: RunMode) -> bool:
    """Whether cached findings answer this run: a fix run must still lint a file it can fix."""
    unsafe = mode.unsafe if mode.unsafe is not None else bool(settings.unsafe_fixes)
    return not (
        mode.fix and any(d.fix is not None and d.fix.is_applied_with(unsafe) for d in cached)
    )


def cached_result(
    path: Path, settings: Settings, mode: RunMode, cache_dir: Path
) -> FileResult | None:
    """The cached result for ``path`` when one is valid; None means the file must be linted."""
    display = display_path(path)
    try:
        source = read_source(path, _max_bytes(path))
    except SourceError:
        return None  # the worker reports it
    key = _cache_key(source, settings, path, settings.is_test_code(path))
    cached = Cache(cache_dir).load(key, display)
    if cached is None:
        return None
    if not _answers(cached, settings, mode):
        return None
    return FileResult(path=display, diagnostics=cached, original=source.text)


def process_file(
    path: Path, settings: Settings, mode: RunMode, cache_dir: Path | None = None
) -> FileResult:
    """Lint (or fix) one file; ``cache_dir`` enables the results cache."""
    display = display_path(path)
    try:
        source: SourceFile = read_source(path, _max_bytes(path))
    except SourceError as exc:
        if exc.is_content_problem:
            finding = syntax_error(display, str(exc), exc.line, exc.column)
            unreadable = FileResult(path=display, diagnostics=[finding])
            return apply_syntax_error_policy(unreadable, settings, path)
        return FileResult(path=display, error=str(exc))
    cache = Cache(cache_dir) if cache_dir is not None else None
    test_code = settings.is_test_code(path)
    key = _cache_key(source, settings, path, test_code) if cache is not None else ""
    if cache is not None:
        cached = cache.load(key, display)
        if cached is not None and _answers(cached, settings, mode):
            return FileResult(path=display, diagnostics=cached, original=source.text)
    result = process_text(source.text, display, settings, mode, path, test_code)
    if cache is not None and result.fixed is None and not result.internal_errors:
        cache.store(key, result.diagnostics)
    if mode.write and result.fixed is not None:
        try:
            _check_link_target(path, settings, mode)
            write_source(source, result.fixed)
        except (WriteRefused, OSError) as exc:
            # Nothing was written, so the file still holds every finding of the text as read:
            # report those (as a run without --fix would), not what the unwritten fixes left.
            lint = RunMode(fix=False, unsafe=mode.unsafe)
            result = process_text(source.text, display, settings, lint, path, test_code)
            result.error = f"fixes not written: {exc}"
            if cache is not None and not result.internal_errors:
                cache.store(key, result.diagnostics)
    return result


def _check_link_target(path: Path, settings: Settings, mode: RunMode) -> None:
    if not mode.write_within or settings.follows_symlinks:
        return
    target = os.path.realpath(path)
    if not any(
        target == root or target.startswith(root.rstrip(os.sep) + os.sep)
        for root in mode.write_within
    ):
        raise WriteRefused(
            f"it leads to {target}, outside the paths given, through a symbolic link "
            "(fix-follow-symlinks is off, as under CI=true)"
        )


def apply_syntax_error_policy(result: FileResult, settings: Settings, path: Path) -> FileResult:
    """Drop the engine's TL000 findings where the user turned TL000 off.

    The engine reports a file that does not parse whatever rules it is given. TL000 is off for
    ``path`` when ``ignore`` or ``per-file-ignores`` name it exactly (see
    :mod:`torchlint.selection`), and on one line when a ``# noqa`` / ``# torchlint: ignore[...]``
    comment there names ``TL000`` or ``syntax-error`` (a comment without codes does not: a
    broken file should not hide behind a blanket ``# noqa``).
    """
    if not any(d.code == SYNTAX_ERROR_CODE for d in result.diagnostics):
        return result
    if not any(r.code == SYNTAX_ERROR_CODE for r in settings.rules_for(path)):
        result.diagnostics = [d for d in result.diagnostics if d.code != SYNTAX_ERROR_CODE]
        return result
    source = result.original
    if source is None or "noqa" not in source.lower() and "torchlint:" not in source.lower():
        return result
    from torchlint.suppression import parse_suppressions

    lines = parse_suppressions(source).lines

    def silenced(line: int) -> bool:
        codes = lines.get(line)
        return codes is not None and bool({SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME} & codes)

    result.diagnostics = [
        d for d in result.diagnostics if d.code != SYNTAX_ERROR_CODE or not silenced(d.start.line)
    ]
    return result


def default_jobs() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# What a worker costs: descriptors in this process (its pipe, its sentinel, one spare), and
# memory of its own once it holds a file's syntax tree.
WORKER_FDS = 3
WORKER_MEMORY = 128 * 1024 * 1024
FDS_KEPT = 32  # for this process's own files (the cache, the output)


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def worker_limit() -> tuple[int, str]:
    """The most worker processes the open-file limit and the free memory allow, and which
    one binds."""
    limits: list[tuple[int, str]] = [(1 << 30, "")]
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            limits.append(((soft - FDS_KEPT) // WORKER_FDS, f"the open-file limit ({soft})"))
    except (ImportError, OSError, ValueError):
        pass
    memory = _available_memory()
    if memory is not None:
        shown = f"{memory / 1024**3:.1f} GiB"
        limits.append((memory // WORKER_MEMORY, f"the available memory ({shown})"))
    count, why = min(limits)
    return max(count, 1), why


# Below this many files a process pool costs more than it saves.
PARALLEL_THRESHOLD = 8

Task = tuple[Path, Settings, RunMode, Path | None]


def _work(task: Task) -> FileResult:
    return process_file(*task)


def run_paths(
    paths: Sequence[Path],
    resolver: SettingsResolver,
    mode: RunMode,
    *,
    force_exclude: bool = False,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Lint every file under ``paths``; results come back in discovery order.

    Files are linted in worker processes (one when there are few, or ``jobs=1``), so that a
    worker that dies (a crash in native code, the OOM killer) costs only the file it was
    linting: the results already received are kept, the files it had not answered for are
    linted again one at a time in a fresh process each, and a file whose process dies again is
    reported as an internal error for that file. Where processes cannot be forked (they would
    be spawned: an interpreter start and every import each), a run that needs one worker lints
    in this process.
    """
    from torchlint.project_index import new_run

    new_run()  # files may have been created or deleted since the last run in this process
    discovery = discover(paths, resolver.for_path, force_exclude=force_exclude)
    run = RunResult(errors=list(discovery.errors))
    tasks: list[Task] = []
    unusable: dict[Path, str | None] = {}
    for path in discovery.files:
        settings = resolver.for_path(path)
        directory = None
        if use_cache:
            directory = cache_dir if cache_dir is not None else settings.root / CACHE_DIR_NAME
            if directory not in unusable:
                unusable[directory] = cache_dir_problem(directory)
                if unusable[directory] is not None:
                    run.warnings.append(str(unusable[directory]))
            if unusable[directory] is not None:
                directory = None
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

    def deliver(index: int, result: FileResult) -> None:
        nonlocal done
        results[index] = result
        done += 1
        if progress is not None:
            progress(done, total)

    workers = min(jobs or default_jobs(), len(misses))
    limit, why = worker_limit()
    if workers > limit:
        # Past this, forking fails with "too many open files" (no result at all) or the OOM
        # killer takes torchlint itself.
        asked = f"-j {jobs}" if jobs else f"{workers} workers (one per core)"
        run.warnings.append(f"{asked} lowered to {limit}: {why} allows no more workers")
        workers = limit
    if workers <= 1 or len(misses) < PARALLEL_THRESHOLD:
        workers = 1
    if not misses:
        pass
    elif workers == 1 and _context().get_start_method() != "fork":
        # A spawned worker costs an interpreter start and every import: lint here.
        for index in misses:
            deliver(index, _work(tasks[index]))
    else:
        # Even one worker is a process of its own (a fork costs a few milliseconds): a file
        # that kills the process linting it must not take the run down with it.
        chunk = len(misses) if workers == 1 else max(1, min(16, len(misses) // (workers * 8)))
        # Import the engine and the enabled rules once, here: forked workers inherit them.
        import torchlint.engine  # noqa: F401

        for settings in {id(tasks[i][1]): tasks[i][1] for i in misses}.values():
            load_rules(settings.rules)
        lost = _run_pool(tasks, misses, workers, chunk, deliver)
        # Each file a dead worker left unanswered, alone in a fresh process: a file that was
        # only in the same batch is linted after all, and the one that kills its process is
        # known for sure (a worker killed for the memory of the whole pool may pass alone).
        for index, _ in sorted(lost):
            for _, exitcode in _run_pool(tasks, [index], 1, 1, deliver):
                deliver(index, _crashed(tasks[index], exitcode))
    run.files = [r for r in results if r is not None]
    return run


def _context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    # fork shares the already-imported LibCST with the workers: no per-worker import cost.
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


# -- the worker pool ----------------------------------------------------------------------------
#
# Not concurrent.futures: when one of its workers dies, ProcessPoolExecutor fails every pending
# file and kills the other workers, whatever they are doing. Here each worker has its own pipe;
# the parent sends it a batch of task indices (forked workers already hold the tasks) and it
# answers one message per file, so a dead worker loses only the files of its batch it had not
# answered for, and the others carry on.


# The parent's ends of every live worker's pipe. A forked worker inherits them all (its own
# included): it closes them first, or no worker would see end of file when the parent dies.
_PARENT_ENDS: set[Connection] = set()


def _die_with_parent(parent: int) -> None:
    """Make this worker die with the process that forked it (SIGTERM, SIGKILL, OOM killer):
    an orphan would keep linting and hold the parent's stdout open (``torchlint . | cat`` would
    never end)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        else:
            if os.getppid() != parent:  # it died before prctl took effect
                os._exit(1)
            return

    def watch() -> None:  # elsewhere: notice being re-parented
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="torchlint-parent-watch", daemon=True).start()


def _worker_main(conn: Connection, tasks: Sequence[Task], parent: int) -> None:
    """A worker: lint the files whose indices arrive, one answer per file, until told to stop."""
    _die_with_parent(parent)
    for inherited in list(_PARENT_ENDS):
        inherited.close()
    _PARENT_ENDS.clear()
    try:
        while True:
            batch = conn.recv()
            if batch is None:
                return
            for index in batch:
                try:
                    result = _work(tasks[index])
                except Exception as exc:  # a bug outside any rule: reported for this file only
                    detail = traceback.format_exc(limit=-3)
                    result = _failed(tasks[index], f"{type(exc).__name__}: {exc}\n{detail}")
                try:
                    conn.send((index, result))
                except (pickle.PicklingError, TypeError, AttributeError) as exc:
                    message = f"the result could not be sent back: {type(exc).__name__}: {exc}"
                    conn.send((index, _failed(tasks[index], message)))
    except (EOFError, OSError, KeyboardInterrupt):
        return  # the run was stopped, or the parent is gone


class _Worker:
    def __init__(
        self,
        context: multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext,
        tasks: Sequence[Task],
    ) -> None:
        self.conn, child = context.Pipe()
        _PARENT_ENDS.add(self.conn)
        self.process = context.Process(
            target=_worker_main, args=(child, tasks, os.getpid()), daemon=True
        )
        self.process.start()
        child.close()
        self.assigned: list[int] = []  # indices sent and not yet answered

    def give(self, batch: list[int]) -> None:
        self.assigned = list(batch)
        try:
            self.conn.send(batch)
        except OSError:
            pass  # it died: its sentinel says so, and the batch is lost with it

    def receive(self, deliver: Callable[[int, FileResult], None]) -> bool:
        """Hand on every answer waiting in the pipe; False when the pipe is broken."""
        while self.assigned and self.conn.poll():
            try:
                index, result = self.conn.recv()
            except Exception:  # end of file, or a message cut short by the worker's death
                return False
            self.assigned.remove(index)
            deliver(index, result)
        return True

    def retire(self) -> int | None:
        """Close a worker whose pipe broke or that died; its exit code."""
        _PARENT_ENDS.discard(self.conn)
        self.conn.close()  # one still alive (an answer it sent could not be read) stops at EOF
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        return self.process.exitcode


def _run_pool(
    tasks: Sequence[Task],
    indices: Sequence[int],
    workers: int,
    chunk: int,
    deliver: Callable[[int, FileResult], None],
) -> list[tuple[int, int | None]]:
    """Lint ``indices`` in ``workers`` processes, calling ``deliver`` for each result as it comes.

    Returns (index, exit code) for each file a worker died without answering for; a dead
    worker is replaced while there is work left.
    """
    context = _context()
    batches = deque(list(indices[i : i + chunk]) for i in range(0, len(indices), chunk))
    live: list[_Worker] = []
    lost: list[tuple[int, int | None]] = []
    try:
        while batches or any(w.assigned for w in live):
            while batches and len(live) < workers:
                live.append(_Worker(context, tasks))
            for worker in live:
                if not worker.assigned and batches:
                    worker.give(batches.popleft())
            busy = [w for w in live if w.assigned]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                # Answers sent before a death are still in the pipe: take them first.
                intact = worker.receive(deliver)
                if intact and worker.process.sentinel not in ready:
                    continue
                exitcode = worker.retire()
                lost.extend((index, exitcode) for index in worker.assigned)
                live.remove(worker)
    finally:
        _stop(live)
    return lost


def _stop(live: list[_Worker]) -> None:
    for worker in live:
        try:
            worker.conn.send(None)
        except OSError:
            pass
        _PARENT_ENDS.discard(worker.conn)
        worker.conn.close()
    for worker in live:
        # An idle worker exits at once; one interrupted mid-file (Ctrl-C, an error here) stops
        # at its next answer. Only one that does neither is terminated.
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join()


def _failed(task: Task, message: str) -> FileResult:
    display = display_path(task[0])
    return FileResult(path=display, internal_errors=[InternalError(display, "engine", message)])


def _crashed(task: Task, exitcode: int | None) -> FileResult:
    """The result of a file whose worker died linting it, each time it was tried."""
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        why = {
            int(signal.SIGKILL): ": killed, perhaps for lack of memory",
            int(signal.SIGSEGV): ": a crash in native code",
        }.get(number, "")
        what = f"crashed (signal {number}, {name}{why})"
    else:
        what = f"exited unexpectedly (exit status {exitcode})"
    return _failed(task, f"the worker linting this file {what}; nothing is reported for this file")
