"""The language server's state, one object per job: what the client configured, the config files
read, the open documents, and the lint jobs scheduled or running."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types

from torchlint.config import Overrides, Settings, SettingsResolver
from torchlint.diagnostics import Diagnostic
from torchlint.files import Excluder
from torchlint.incremental import IncrementalParser

DEFAULT_DEBOUNCE_MS = 50


@dataclass
class Published:
    """What was last published for a document: the version, the text and the findings."""

    version: int | None
    text: str
    settings: Settings
    diagnostics: list[Diagnostic] = field(default_factory=list)
    lsp: list[types.Diagnostic] = field(default_factory=list)


@dataclass
class FixAllEntry:
    """The fix-all action computed (or being computed) for one version of one document."""

    version: int | None
    text: str
    settings: Settings
    task: asyncio.Future[types.CodeAction | None]

    def matches(self, published: Published) -> bool:
        return (
            self.version == published.version
            and self.settings is published.settings
            and self.text == published.text
        )


@dataclass
class ClientSettings:
    """What the client configured. ``initial`` and ``changed`` are its settings as it gave them
    (OPTION_KEYS spellings): initializationOptions, and on top of them every key named since by
    didChangeConfiguration / workspace/configuration; the other fields are what they set."""

    initial: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, Any] = field(default_factory=dict)
    overrides: Overrides = field(default_factory=Overrides)
    debounce: float = DEFAULT_DEBOUNCE_MS / 1000  # seconds
    log_timings: bool = False


class ConfigFiles:
    """The config files read so far, and the problems with them already shown to the user; a new
    one forgets them all (a config file changed)."""

    def __init__(self, overrides: Overrides, settings_for: Callable[[Path], Settings]) -> None:
        self.resolver = SettingsResolver(overrides)
        self.excluder = Excluder(settings_for)
        self.shown: set[str] = set()


@dataclass
class OpenDocuments:
    """Per open Python document (by URI): its newest version, its parse state, what was published
    for it, the internal errors already logged and its fix-all action."""

    versions: dict[str, int | None] = field(default_factory=dict)
    # Parse state of each document's last version: an edit re-parses only what changed.
    parsers: dict[str, IncrementalParser] = field(default_factory=dict)
    published: dict[str, Published] = field(default_factory=dict)
    reported: dict[str, set[str]] = field(default_factory=dict)
    fix_all: dict[str, FixAllEntry] = field(default_factory=dict)

    def forget(self, uri: str) -> None:
        for table in (self.versions, self.parsers, self.published, self.reported, self.fix_all):
            table.pop(uri, None)


@dataclass
class LintJobs:
    """The lints scheduled (debounced tasks) and running on the one worker thread."""

    pending: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # uri -> the lint on the worker thread: ((version, text, resolver), its future), shared by
    # whoever asks for that version with the same settings meanwhile (the debounced lint, a
    # fix-all request).
    inflight: dict[str, tuple[tuple[Any, ...], asyncio.Future[Any]]] = field(default_factory=dict)
    executor: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="torchlint-lint"
        )
    )
    loop: asyncio.AbstractEventLoop | None = None  # the server's event loop, once known

    def cancel(self, uri: str) -> None:
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()
