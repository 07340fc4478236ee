"""``torchlint lsp``: a Language Server Protocol server over stdio (pygls 2.x).

What it does for an editor:

- publishes diagnostics when a Python document opens, changes (debounced; the latest version wins
  and a result for an older version is never published) and is saved; clears them on close;
- offers code actions: each diagnostic's fix as a quick fix (unsafe ones say so), "Disable TL201 for
  this line" (adds or extends `# noqa`), and ``source.fixAll.torchlint`` (every safe fix, and the
  unsafe ones too when ``unsafe-fixes`` is on);
- shows the rule's summary when hovering over a diagnostic's range;
- reads ``[tool.torchlint]`` from the workspace's config files like the CLI does, and again whenever
  one changes (``workspace/didChangeWatchedFiles``, or saving the file in the editor);
- takes ``select`` / ``extendSelect`` / ``ignore`` / ``preview`` / ``unsafeFixes`` / ``debounceMs`` /
  ``logTimings`` from ``initializationOptions`` and from ``workspace/didChangeConfiguration`` (section
  ``torchlint``, or pulled with ``workspace/configuration``); they win over the config files, like the
  CLI's flags. A later settings message changes only the keys it names (null: back to the
  ``initializationOptions`` value); settings that do not mention torchlint change nothing.

Linting runs on one worker thread, so the server keeps reading messages while a file is checked.
``source.fixAll.torchlint`` is computed on that thread too, once per document version and settings
(cursor moves ask for code actions again and again); asked for explicitly before the newest version
was linted (save right after typing), it lints that version first.
A rule that crashes on a document is logged through ``window/logMessage`` (the engine reports it as an
internal error and the other rules' findings are still published). When linting a version fails as a
whole, an empty list is published for that version (no stale findings stay on edited lines) and the
error is logged once. Any other exception inside a handler is logged and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from torchlint import __version__
from torchlint.config import CONFIG_FILES, ConfigError, Overrides, Settings
from torchlint.diagnostics import Diagnostic
from torchlint.docs import doc_href
from torchlint.files import PYTHON_SUFFIXES
from torchlint.incremental import IncrementalParser
from torchlint.lsp_convert import (
    SOURCE,
    LineIndex,
    contains,
    minimal_edit,
    quick_fixes,
    same_range,
    to_lsp_diagnostic,
)
from torchlint.lsp_notebook import NOTEBOOK_FIX_ALL_KIND, NotebookSync
from torchlint.lsp_notebook import SYNC_OPTIONS as NOTEBOOK_SYNC
from torchlint.lsp_state import (
    DEFAULT_DEBOUNCE_MS,
    ClientSettings,
    ConfigFiles,
    FixAllEntry,
    LintJobs,
    OpenDocuments,
    Published,
)
from torchlint.project_index import shared_index
from torchlint.registry import find_rule
from torchlint.runner import RunMode, process_source
from torchlint.selection import SelectorError, validate_selectors

log = logging.getLogger("torchlint.lsp")

FIX_ALL_KIND = "source.fixAll.torchlint"
# Documents past this are not linted: parsing costs seconds per megabyte, on every edit.
MAX_DOCUMENT_BYTES = 1024 * 1024
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class LintResult:
    version: int | None
    text: str
    settings: Settings
    diagnostics: list[Diagnostic]
    lsp: list[types.Diagnostic]
    internal_errors: list[str]
    timing: str = ""
    published: bool = False


@dataclass(frozen=True)
class LintFailure:
    """Linting one version raised (outside the rules' visit methods): what to log."""

    version: int | None
    message: str


def _as_list(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"`{key}` must be a list of rule selectors, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


@dataclass
class ServerOptions:
    """What the client configures: rule selection on top of the config files, and the server."""

    overrides: Overrides = field(default_factory=Overrides)
    debounce_ms: int | None = None  # None: keep the current one
    log_timings: bool | None = None


# Every key of torchlint's settings, under each spelling accepted -> the spelling it is kept under.
OPTION_KEYS = {
    "select": "select",
    "extendSelect": "extendSelect",
    "extend-select": "extendSelect",
    "extend_select": "extendSelect",
    "ignore": "ignore",
    "preview": "preview",
    "unsafeFixes": "unsafeFixes",
    "unsafe-fixes": "unsafeFixes",
    "unsafe_fixes": "unsafeFixes",
    "debounceMs": "debounceMs",
    "debounce-ms": "debounceMs",
    "debounce_ms": "debounceMs",
    "logTimings": "logTimings",
    "log-timings": "logTimings",
    "log_timings": "logTimings",
}


def torchlint_section(settings: Any) -> dict[str, Any] | None:
    """The part of client settings that is torchlint's; None when they do not mention torchlint.

    ``{"torchlint": {...}}`` (eglot, VS Code), the same inside ``{"settings": ...}``, or torchlint's
    keys at the top level (Helix sends its ``config`` table like that). Settings for other servers
    only (``{"python": {...}}``) are not torchlint's.
    """
    while isinstance(settings, dict):
        section = settings.get("torchlint")
        if isinstance(section, dict):
            return section
        if isinstance(settings.get("settings"), dict):
            settings = settings["settings"]
            continue
        return settings if any(key in OPTION_KEYS for key in settings) else None
    return None


def merge_options(current: dict[str, Any], section: dict[str, Any]) -> dict[str, Any]:
    """``current`` with the keys that ``section`` names replaced; a null value drops the key."""
    merged = dict(current)
    for key, value in section.items():
        canonical = OPTION_KEYS.get(key)
        if canonical is None:
            continue
        if value is None:
            merged.pop(canonical, None)
        else:
            merged[canonical] = value
    return merged


def parse_options(options: Any) -> ServerOptions:
    """``initializationOptions`` / ``torchlint`` settings -> ServerOptions. Raises ValueError."""
    if not isinstance(options, dict):
        return ServerOptions()
    for wrapper in ("torchlint", "settings"):
        if isinstance(options.get(wrapper), dict):
            options = options[wrapper]

    def get(*names: str) -> Any:
        for name in names:
            if name in options and options[name] is not None:
                return options[name]
        return None

    overrides = Overrides()
    select = get("select")
    if select is not None:
        overrides.select = _as_list(select, "select")
    extend = get("extendSelect", "extend-select", "extend_select")
    if extend is not None:
        overrides.extend_select = _as_list(extend, "extendSelect")
    ignore = get("ignore")
    if ignore is not None:
        overrides.ignore = _as_list(ignore, "ignore")
    for attr, names in (
        ("preview", ("preview",)),
        ("unsafe_fixes", ("unsafeFixes", "unsafe-fixes", "unsafe_fixes")),
    ):
        value = get(*names)
        if value is not None:
            if not isinstance(value, bool):
                raise ValueError(f"`{names[0]}` must be true or false, got {value!r}")
            setattr(overrides, attr, value)
    try:
        validate_selectors([*(overrides.select or ()), *overrides.extend_select, *overrides.ignore])
    except SelectorError as exc:
        raise ValueError(f"{exc} (see `torchlint rules`)") from exc
    debounce = get("debounceMs", "debounce-ms", "debounce_ms")
    if debounce is not None and (
        isinstance(debounce, bool)
        or not isinstance(debounce, (int, float))
        or not math.isfinite(debounce)  # JSON's Infinity and NaN: int() would raise
        or debounce < 0
    ):
        raise ValueError(f"`debounceMs` must be a number of milliseconds, got {debounce!r}")
    timings = get("logTimings", "log-timings", "log_timings")
    if timings is not None and not isinstance(timings, bool):
        raise ValueError(f"`logTimings` must be true or false, got {timings!r}")
    return ServerOptions(overrides, None if debounce is None else int(debounce), timings)


class TorchlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("torchlint", __version__, notebook_document_sync=NOTEBOOK_SYNC)
        self.notebooks = NotebookSync(self)  # open notebooks: see lsp_notebook.py
        self.client = ClientSettings()
        self.config = ConfigFiles(self.client.overrides, self.settings_for)
        self.documents = OpenDocuments()
        self.jobs = LintJobs()
        # The project index's generation each document was last linted at (see _lint_job).
        self.project_generations: dict[str, int] = {}

    # -- messages to the client ----------------------------------------------------------------

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        level = {types.MessageType.Error: logging.ERROR, types.MessageType.Warning: logging.WARNING}
        log.log(level.get(kind, logging.INFO), "%s", message)
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # the connection may be gone; stderr still has it
            log.exception("cannot send window/logMessage")

    def log_exception(self, where: str) -> None:
        self.log(
            f"torchlint: internal error in {where} (the server keeps running):\n"
            f"{traceback.format_exc()}",
            types.MessageType.Error,
        )

    def show_once(self, message: str, kind: types.MessageType) -> None:
        self.log(message, kind)
        if message in self.config.shown:
            return
        self.config.shown.add(message)
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            log.exception("cannot send window/showMessage")

    # -- settings ------------------------------------------------------------------------------

    def apply_options(self, section: dict[str, Any], *, initial: bool = False) -> bool:
        """Take torchlint's settings section: ``initializationOptions`` when ``initial``, else a
        later change that replaces only the keys it names. True when the rule selection changed
        (the open documents need linting again); invalid settings are reported and not taken."""
        initial_options, changed_options = self.client.initial, self.client.changed
        if initial:
            initial_options = merge_options({}, section)
        else:
            changed_options = merge_options(changed_options, section)
        try:
            parsed = parse_options({**initial_options, **changed_options})
        except ValueError as exc:
            self.show_once(f"torchlint: ignoring invalid settings: {exc}", types.MessageType.Error)
            return False
        self.client.initial, self.client.changed = initial_options, changed_options
        debounce_ms = DEFAULT_DEBOUNCE_MS if parsed.debounce_ms is None else parsed.debounce_ms
        self.client.debounce = debounce_ms / 1000
        self.client.log_timings = bool(parsed.log_timings)
        if parsed.overrides == self.client.overrides:
            return False
        self.client.overrides = parsed.overrides
        self.reload()
        return True

    def reload(self) -> None:
        """Forget every config file read so far; the next lint reads them again."""
        self.config = ConfigFiles(self.client.overrides, self.settings_for)

    def root(self) -> Path:
        try:
            root = self.workspace.root_path
        except Exception:
            root = None
        return Path(root) if root else Path.cwd()

    def path_of(self, uri: str) -> Path:
        path = to_fs_path(uri) if uri.startswith("file:") else None
        return Path(path) if path else self.root() / "untitled.py"

    def settings_for(self, path: Path) -> Settings:
        resolver = self.config.resolver
        try:
            return resolver.for_path(path)
        except ConfigError as exc:
            self.loop_call(
                self.show_once,
                f"torchlint: configuration error, using the defaults: {exc}",
                types.MessageType.Error,
            )
            return self.client.overrides.apply(Settings(root=path.parent))

    def loop_call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` on the event loop: messages are sent from there only."""
        loop = self.jobs.loop
        try:
            on_loop = loop is None or asyncio.get_running_loop() is loop
        except RuntimeError:  # no running loop: this is the worker thread
            on_loop = False
        if on_loop or loop is None:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    # -- linting -------------------------------------------------------------------------------

    def is_python(self, uri: str, language_id: str | None) -> bool:
        # Some clients send no useful language id (Neovim without filetype detection sends "").
        return language_id == "python" or self.path_of(uri).suffix in PYTHON_SUFFIXES

    def schedule(self, uri: str, delay: float) -> None:
        if uri not in self.documents.versions:
            return
        previous = self.jobs.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        self.jobs.loop = asyncio.get_running_loop()
        self.jobs.pending[uri] = asyncio.create_task(self._lint_later(uri, delay))

    def relint_all(self) -> None:
        for uri in list(self.documents.versions):
            self.schedule(uri, 0)
        for uri in list(self.notebooks.linted):
            self.notebooks.schedule(uri, 0)

    async def _lint_later(self, uri: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            if uri not in self.documents.versions:
                return
            document = self.workspace.get_text_document(uri)
            version, text = document.version, document.source
            if self.documents.versions.get(uri) != version:
                return
            await self._lint_and_publish(uri, version, text)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log_exception(f"linting {uri}")
        finally:
            if self.jobs.pending.get(uri) is asyncio.current_task():
                del self.jobs.pending[uri]

    async def lint_now(self, uri: str) -> Published | None:
        """Lint the document's newest version now (on the worker thread, no debounce) and publish
        it; the findings for it, or None when it cannot be linted (closed, edited meanwhile)."""
        if uri not in self.documents.versions:
            return None
        document = self.workspace.get_text_document(uri)
        if self.documents.versions[uri] != document.version:
            return None
        task = self.jobs.pending.pop(uri, None)
        if task is not None:
            task.cancel()  # a lint of this version it has started is shared through `inflight`
        await self._lint_and_publish(uri, document.version, document.source)
        return self.current(uri)

    async def _lint_and_publish(self, uri: str, version: int | None, text: str) -> None:
        key = (version, text, self.config.resolver)  # a new resolver: the settings changed
        shared = self.jobs.inflight.get(uri)
        if shared is not None and shared[0] == key:
            job = shared
        else:
            encoding = str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)
            future = asyncio.get_running_loop().run_in_executor(
                self.jobs.executor, self._guarded_lint_job, uri, version, text, encoding
            )
            job = (key, future)
            self.jobs.inflight[uri] = job
        try:
            # Shielded: a caller cancelled by a newer edit leaves the others their result.
            result = await asyncio.shield(job[1])
        finally:
            if self.jobs.inflight.get(uri) is job and job[1].done():
                del self.jobs.inflight[uri]
        if (
            result is None
            or uri not in self.documents.versions
            or self.documents.versions[uri] != version
        ):
            return  # closed or edited meanwhile: a newer run publishes
        if isinstance(result, LintFailure):
            self._publish_failure(uri, result)
        elif not result.published:  # else the other caller that shared this lint published it
            self._publish(uri, result)

    def _guarded_lint_job(
        self, uri: str, version: int | None, text: str, encoding: str
    ) -> LintResult | LintFailure | None:
        """On the worker thread: :meth:`_lint_job`, its exception turned into a LintFailure."""
        try:
            return self._lint_job(uri, version, text, encoding)
        except Exception:
            self.documents.parsers.pop(uri, None)  # the next version starts from a whole parse
            # Formatted here, from this frame down: the same crash gives the same message.
            return LintFailure(
                version,
                f"torchlint: linting {uri} failed, so no findings are shown for this version "
                f"(the server keeps running; please report this):\n{traceback.format_exc()}",
            )

    def _lint_job(
        self, uri: str, version: int | None, text: str, encoding: str
    ) -> LintResult | None:
        """On the worker thread: lint one version of one document."""
        if self.documents.versions.get(uri) != version:
            return None  # already stale: skip the work
        path = self.path_of(uri)
        settings = self.settings_for(path)
        if uri.startswith("file:") and self._excluded(path):
            return LintResult(version, text, settings, [], [], [], "excluded by the settings")
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_DOCUMENT_BYTES:
            # Parsing takes seconds per megabyte, and again after every edit: say so instead.
            note = (
                f"torchlint: {uri} is not linted: it is {size / 1024 / 1024:.1f} MiB, over the "
                f"editor's limit of {MAX_DOCUMENT_BYTES // 1024 // 1024} MiB (on the command "
                f"line, `torchlint` lints files of up to 10 MiB)"
            )
            return LintResult(version, text, settings, [], [], [note], note)
        started = time.perf_counter()
        previous = self.documents.published.get(uri)
        errors: list[str] = []
        # The project index reads this buffer, not the file on disk, for the other documents.
        project = shared_index(settings.src_roots)
        project.set_source(path, text)
        generation = self.project_generations.get(uri)
        self.project_generations[uri] = project.generation
        if (
            previous is not None
            and previous.text == text
            and previous.settings is settings
            and generation == project.generation
        ):
            # Saved, or edited back to what was linted, with the same settings: same findings.
            diagnostics = previous.diagnostics
            engine = "reused"
        else:
            parser = self.documents.parsers.setdefault(uri, IncrementalParser())
            result = process_source(
                text, str(path), settings, RunMode(), rules_path=path, reuse=parser
            )
            if uri not in self.documents.versions:
                self.documents.parsers.pop(uri, None)  # closed while it was linted
            diagnostics = result.diagnostics
            errors = [
                f"torchlint: internal error in rule {e.rule} on {uri} (the other rules' findings "
                f"are shown; please report this):\n{e.message}"
                for e in result.internal_errors
            ]
            engine = f"{(time.perf_counter() - started) * 1000:.1f} ms"
        linted = time.perf_counter()
        index = LineIndex(text, encoding)
        lsp = [to_lsp_diagnostic(d, index, version) for d in diagnostics]
        converted = time.perf_counter()
        timing = (
            f"torchlint: {uri} v{version}: {len(lsp)} findings; engine {engine}, "
            f"conversion {(converted - linted) * 1000:.1f} ms"
        )
        return LintResult(version, text, settings, diagnostics, lsp, errors, timing)

    def _excluded(self, path: Path) -> bool:
        try:
            return self.config.excluder.by_settings(path, False)
        except Exception:
            return False

    def _publish(self, uri: str, result: LintResult) -> None:
        result.published = True
        self.documents.published[uri] = Published(
            result.version, result.text, result.settings, result.diagnostics, result.lsp
        )
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=result.lsp, version=result.version)
        )
        if self.client.log_timings:
            self.log(result.timing, types.MessageType.Log)
        seen = self.documents.reported.setdefault(uri, set())
        current = set(result.internal_errors)
        for message in result.internal_errors:
            if message not in seen:
                self.log(message, types.MessageType.Error)
        self.documents.reported[uri] = current

    def _publish_failure(self, uri: str, failure: LintFailure) -> None:
        """Linting this version failed: clear its findings (the previous version's would stay on
        edited lines) and log the error, once while the same error repeats."""
        self.documents.published.pop(uri, None)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[], version=failure.version)
        )
        if failure.message not in self.documents.reported.get(uri, set()):
            self.log(failure.message, types.MessageType.Error)
        self.documents.reported[uri] = {failure.message}

    def close(self, uri: str) -> None:
        path = self.path_of(uri)
        shared_index(self.settings_for(path).src_roots).forget(path)  # the file on disk counts
        self.project_generations.pop(uri, None)
        self.documents.forget(uri)
        self.jobs.cancel(uri)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    # -- code actions and hover ----------------------------------------------------------------

    def current(self, uri: str) -> Published | None:
        """The findings published for the document's current version, if any."""
        published = self.documents.published.get(uri)
        if published is None or uri not in self.documents.versions:
            return None
        if published.version != self.documents.versions[uri]:
            return None
        return published

    def workspace_edit(
        self, uri: str, version: int | None, edits: list[types.TextEdit]
    ) -> types.WorkspaceEdit:
        capabilities = self.client_capabilities
        versioned = bool(
            capabilities.workspace
            and capabilities.workspace.workspace_edit
            and capabilities.workspace.workspace_edit.document_changes
        )
        if versioned:
            return types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(
                            uri=uri, version=version
                        ),
                        edits=edits,
                    )
                ]
            )
        return types.WorkspaceEdit(changes={uri: edits})

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        only = params.context.only
        published = self.current(uri)
        if published is None and only is not None and _wanted(only, FIX_ALL_KIND):
            # Fix all asked for before the newest text was linted (`editor.codeActionsOnSave`
            # right after typing): lint it now rather than answer nothing.
            published = await self.lint_now(uri)
        if published is None:
            return None
        actions: list[types.CodeAction] = []
        index = LineIndex(
            published.text,
            str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16),
        )
        if _wanted(only, types.CodeActionKind.QuickFix):
            fixes, silences = [], []
            for diagnostic in params.context.diagnostics:
                if diagnostic.source != SOURCE:
                    continue
                data = self._data_of(diagnostic, published)
                if data is None or data.get("version") != published.version:
                    continue  # from an older version of the text
                fixing, silencing = quick_fixes(
                    diagnostic,
                    data,
                    index,
                    lambda edits: self.workspace_edit(uri, published.version, edits),
                )
                if fixing is not None:
                    fixes.append(fixing)
                if silencing is not None:
                    silences.append(silencing)
            actions.extend(fixes)
            actions.extend(_dedupe(silences))
        if _wanted(only, FIX_ALL_KIND):
            # Asked for (`only` names source / source.fixAll) or not (`only` absent: VS Code asks
            # on every cursor move); either way there is nothing to do without a finding whose fix
            # applies (the fix loop's first pass is exactly the lint that was published).
            unsafe = bool(published.settings.unsafe_fixes)
            fixable = any(
                d.fix is not None and d.fix.is_applied_with(unsafe) for d in published.diagnostics
            )
            if fixable:
                action = await self._fix_all(uri, published, unsafe, index.encoding)
                if action is not None:
                    actions.append(action)
        return actions

    def _data_of(self, diagnostic: types.Diagnostic, published: Published) -> dict[str, Any] | None:
        if isinstance(diagnostic.data, dict) and "version" in diagnostic.data:
            return diagnostic.data
        # A client that does not send `data` back: find the finding in what was published.
        for candidate in published.lsp:
            if candidate.code == diagnostic.code and same_range(candidate.range, diagnostic.range):
                return candidate.data if isinstance(candidate.data, dict) else None
        return None

    async def _fix_all(
        self, uri: str, published: Published, unsafe: bool, encoding: str
    ) -> types.CodeAction | None:
        """The fix-all action for the published version: computed once per version and settings
        (on the worker thread), then shared by every request for it."""
        entry = self.documents.fix_all.get(uri)
        if entry is None or not entry.matches(published):
            task = asyncio.ensure_future(self._compute_fix_all(uri, published, unsafe, encoding))
            entry = FixAllEntry(published.version, published.text, published.settings, task)
            self.documents.fix_all[uri] = entry
        # Shielded: a cancelled request does not cancel the work the next request reuses.
        action = await asyncio.shield(entry.task)
        if uri not in self.documents.versions or self.documents.versions[uri] != published.version:
            return None  # edited while fixing
        return action

    async def _compute_fix_all(
        self, uri: str, published: Published, unsafe: bool, encoding: str
    ) -> types.CodeAction | None:
        path = self.path_of(uri)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            result = await loop.run_in_executor(
                self.jobs.executor,
                functools.partial(
                    process_source,
                    published.text,
                    str(path),
                    published.settings,
                    RunMode(fix=True, unsafe=unsafe),
                    rules_path=path,
                ),
            )
        except Exception:
            self.log_exception(f"fixing all of {uri}")  # once: the None is what is cached
            return None
        if self.client.log_timings:
            self.log(
                f"torchlint: {uri} v{published.version}: fix all computed in "
                f"{(time.perf_counter() - started) * 1000:.1f} ms",
                types.MessageType.Log,
            )
        if result.fixed is None:
            return None
        edit = minimal_edit(published.text, result.fixed, encoding)
        if edit is None:
            return None
        title = "torchlint: fix all auto-fixable problems"
        if unsafe:
            title += " (unsafe fixes included)"
        return types.CodeAction(
            title=title,
            kind=FIX_ALL_KIND,
            edit=self.workspace_edit(uri, published.version, [edit]),
        )

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        published = self.current(params.text_document.uri)
        if published is None:
            return None
        hits = [
            (d, lsp)
            for d, lsp in zip(published.diagnostics, published.lsp, strict=True)
            if contains(lsp.range, params.position)
        ]
        if not hits:
            return None
        sections = [_hover_text(d) for d, _ in hits]
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(sections)
            ),
            range=hits[0][1].range,
        )

    # -- config files --------------------------------------------------------------------------

    def config_changed(self, uris: list[str]) -> None:
        if any(self.path_of(uri).name in CONFIG_FILES for uri in uris):
            self.reload()
            self.relint_all()

    async def register_watchers(self) -> None:
        capabilities = self.client_capabilities.workspace
        watched = capabilities.did_change_watched_files if capabilities else None
        if not (watched and watched.dynamic_registration):
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=f"**/{name}") for name in CONFIG_FILES]
        )
        try:
            await self.client_register_capability_async(
                types.RegistrationParams(
                    registrations=[
                        types.Registration(
                            id="torchlint-config-files",
                            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=options,
                        )
                    ]
                )
            )
        except Exception as exc:  # the client declined: saving the file in the editor still works
            self.log(f"torchlint: cannot watch config files: {exc}", types.MessageType.Warning)

    async def pull_settings(self) -> None:
        capabilities = self.client_capabilities.workspace
        if not (capabilities and capabilities.configuration):
            return
        try:
            values = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="torchlint")])
            )
        except Exception as exc:
            self.log(f"torchlint: cannot read settings: {exc}", types.MessageType.Warning)
            return
        # The client's `torchlint` section; null or empty (nothing set there) changes nothing.
        section = torchlint_section(values[0] if values else None)
        if section and self.apply_options(section):
            self.relint_all()


def _wanted(only: Sequence[str] | None, kind: str) -> bool:
    if only is None:
        return True
    return any(kind == o or kind.startswith(f"{o}.") for o in only)


def _dedupe(actions: list[types.CodeAction]) -> list[types.CodeAction]:
    seen: set[str] = set()
    out = []
    for action in actions:
        if action.title not in seen:
            seen.add(action.title)
            out.append(action)
    return out


def _hover_text(diagnostic: Diagnostic) -> str:
    rule = find_rule(diagnostic.code)
    if rule is None:
        return f"**{diagnostic.code}** {diagnostic.name}\n\n{diagnostic.message}"
    lines = [f"**{rule.code}** `{rule.name}`: {rule.summary}", "", diagnostic.message]
    if diagnostic.fix is not None:
        kind = diagnostic.fix.applicability.value
        lines += ["", f"Fix ({kind}): {diagnostic.fix.title}"]
    if diagnostic.suggestion:
        lines += ["", f"Suggestion: {diagnostic.suggestion}"]
    href = doc_href(rule)
    if href:
        lines += ["", f"[Rule documentation]({href}) · `torchlint rule {rule.code}`"]
    return "\n".join(lines)


def _guard(server: TorchlintServer, fn: F) -> F:
    """Any exception in a handler is logged; the server keeps serving."""
    where = fn.__name__.replace("_", " ")
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any) -> Any:
            try:
                return await fn(*args)
            except Exception:
                server.log_exception(where)
                return None

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            server.log_exception(where)
            return None

    return wrapper  # type: ignore[return-value]


def create_server() -> TorchlintServer:
    server = TorchlintServer()

    def feature(method: str, options: Any = None) -> Callable[[F], F]:
        def register(fn: F) -> F:
            guarded = _guard(server, fn)
            if options is None:
                server.feature(method)(guarded)
            else:
                server.feature(method, options)(guarded)
            return fn

        return register

    @feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        section = torchlint_section(params.initialization_options)
        if section is not None:
            server.apply_options(section, initial=True)

    @feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        server.jobs.loop = asyncio.get_running_loop()
        await server.register_watchers()

    @feature(types.SHUTDOWN)
    def shutdown(params: None) -> None:
        for task in server.jobs.pending.values():
            task.cancel()
        server.jobs.executor.shutdown(wait=False, cancel_futures=True)

    @feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        document = params.text_document
        if server.is_python(document.uri, document.language_id):
            server.documents.versions[document.uri] = document.version
            server.schedule(document.uri, 0)

    @feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in server.documents.versions:
            server.documents.versions[uri] = params.text_document.version
            server.schedule(uri, server.client.debounce)

    @feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if server.path_of(uri).name in CONFIG_FILES:
            server.config_changed([uri])
        elif uri in server.documents.versions:
            server.schedule(uri, 0)
            # The other open documents may import it: lint them against what was saved.
            for other in list(server.documents.versions):
                if other != uri:
                    server.schedule(other, 0)

    @feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        if params.text_document.uri in server.documents.versions:
            server.close(params.text_document.uri)

    @feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(params: types.DidOpenNotebookDocumentParams) -> None:
        server.notebooks.schedule(params.notebook_document.uri, 0)

    @feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(params: types.DidChangeNotebookDocumentParams) -> None:
        server.notebooks.changed(params)

    @feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(params: types.DidSaveNotebookDocumentParams) -> None:
        server.notebooks.schedule(params.notebook_document.uri, 0)

    @feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(params: types.DidCloseNotebookDocumentParams) -> None:
        server.notebooks.closed(params)

    @feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        server.config_changed([change.uri for change in params.changes])

    @feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        # Only what names torchlint's keys changes them; the rest is other servers' settings (one
        # message carries them all in eglot) or a hint to pull ours (VS Code sends null).
        section = torchlint_section(params.settings)
        if section is not None:
            if server.apply_options(section):
                server.relint_all()
        else:
            await server.pull_settings()

    @feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND, NOTEBOOK_FIX_ALL_KIND],
            resolve_provider=False,
        ),
    )
    async def code_action(params: types.CodeActionParams) -> list[types.CodeAction] | None:
        if server.notebooks.owns(params.text_document.uri):
            return await server.notebooks.code_actions(params)
        return await server.code_actions(params)

    @feature(types.TEXT_DOCUMENT_HOVER)
    def hover(params: types.HoverParams) -> types.Hover | None:
        return server.hover(params)

    return server


__all__ = [
    "FIX_ALL_KIND",
    "ServerOptions",
    "TorchlintServer",
    "create_server",
    "merge_options",
    "parse_options",
    "torchlint_section",
]
