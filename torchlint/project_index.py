"""The project index: the project's own modules, their classes, functions and summaries.

Rules ask what a class imported from another file derives from, or what a helper imported from
another file does (clears an optimizer's gradients, seeds the generators, returns probabilities).
The index answers from :class:`~torchlint.analysis.summaries.ModuleSummary` records read with
Python's ``ast`` (cheap next to the LibCST lint) on first use, one per module, and kept for the run.

Module names come from the ``src`` roots (``Settings.src_roots``, like ruff's ``src`` setting: by
default the project root and its ``src/`` folder) and from the package a file sits in (the folders above it that hold an
``__init__.py``), so ``from models.base import BaseModel``, ``from .base import BaseModel`` and
``from . import utils`` all lead to the file that defines them. Only files under those roots are
read: ``torch``, ``numpy`` and other installed packages are never the project.

A file's findings depend on the modules it imports from the project (and those they import): its
cache key includes :func:`ProjectIndex.dependency_fingerprint`, a digest of those files' contents,
so editing ``models/base.py`` re-checks ``train.py``. The fingerprint reads import statements with a
regular expression, without parsing, so a warm run stays cheap.

The language server keeps the index current: :meth:`ProjectIndex.set_source` puts an open (unsaved)
buffer's text in place of the file on disk, and :meth:`ProjectIndex.forget` drops what it knew of a
saved or closed file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from torchlint.analysis.module_bases import is_module_base, says_nothing
from torchlint.analysis.summaries import (
    ClassSummary,
    FunctionSummary,
    ModuleSummary,
    base_classes,
    inherited_method,
    resolve_relative,
    summarize_source,
)

# How far a chain of re-exports, base classes or helpers calling helpers is followed.
_MAX_DEPTH = 4
# ``import a.b as c`` / ``from .x import (y, z)``: enough of the import grammar to know which
# modules a file imports, without parsing it.
_STATEMENT_START = re.compile(r"^[ \t]*((?:from|import)[ \t])", re.MULTILINE)
_IMPORT = re.compile(
    r"(?:from[ \t]+(?P<source>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^#\n;]+)"
    r"|import[ \t]+(?P<modules>[^#\n;]+))"
)


def _package_root(path: Path) -> Path:
    """The folder above the topmost package holding ``path`` (its own folder when none)."""
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


class ProjectIndex:
    """The project's modules by name, each summarized on first use."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots: list[Path] = []
        self._files: dict[str, tuple[Path, bool] | None] = {}  # module -> (file, is package)
        self._owners: dict[str, tuple[str, list[str]] | None] = {}
        self._edge_lists: dict[Path, list[Path]] = {}  # file -> the project files it imports
        for root in roots:
            self._add_root(Path(root))
        self._summaries: dict[Path, ModuleSummary] = {}
        self._texts: dict[Path, str] = {}  # open buffers, in place of the file on disk
        self._digests: dict[Path, str] = {}
        self._imports: dict[Path, list[str]] = {}
        # What was read of each file on disk, by (size, mtime): a file changed since is read again.
        self._stamps: dict[Path, tuple[int, int]] = {}
        # Counts the changes to open buffers and forgotten files: findings computed at another
        # generation may depend on a file that changed since.
        self.generation = 0
        # Within one run (see new_run), a file is stat-ed once and a fingerprint computed once.
        self._checked: set[Path] = set()
        self._fingerprints: dict[Path, str] = {}
        self._named: dict[Path, tuple[str, bool]] = {}  # file -> (module, is package)
        self._package_roots: dict[Path, Path] = {}  # folder -> the folder above its package

    def _add_root(self, root: Path) -> None:
        resolved = _absolute(root)
        if resolved not in self.roots and resolved.is_dir():
            self.roots.append(resolved)
            # A module not found under the old roots may be under this one.
            self._files = {k: v for k, v in self._files.items() if v is not None}
            self._owners.clear()
            self._edge_lists.clear()

    # -- keeping it current -------------------------------------------------------------------
    def set_source(self, path: Path, text: str) -> None:
        """Use ``text`` for ``path`` (an editor's unsaved buffer) instead of the file on disk."""
        resolved = _absolute(path)
        if self._texts.get(resolved) == text:
            return
        self._texts[resolved] = text
        self._drop(resolved)
        self.generation += 1

    def forget(self, path: Path) -> None:
        """Drop what is known of ``path`` (saved, closed, created or deleted): read it again."""
        resolved = _absolute(path)
        self._texts.pop(resolved, None)
        self._drop(resolved)
        self._files.clear()  # a created or deleted file changes which module names exist
        self._owners.clear()
        self._edge_lists.clear()
        self.generation += 1

    def forget_module_names(self) -> None:
        """A new run: modules may have appeared or gone, files may have changed."""
        self._files.clear()
        self._owners.clear()
        self._edge_lists.clear()
        self._checked.clear()
        self._fingerprints.clear()

    def _drop(self, resolved: Path) -> None:
        self._fingerprints.clear()  # any of them may include this file
        self._edge_lists.clear()
        self._summaries.pop(resolved, None)
        self._digests.pop(resolved, None)
        self._imports.pop(resolved, None)

    def _text(self, path: Path) -> str | None:
        text = self._texts.get(path)
        if text is not None:
            return text
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def _current(self, path: Path) -> None:
        """Forget what was read of ``path`` when the file on disk changed since."""
        if path in self._texts or path in self._checked:
            return
        self._checked.add(path)
        try:
            info = path.stat()
            stamp = (info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = (-1, -1)
        known = self._stamps.get(path)
        if known != stamp:
            if known is not None:
                self._drop(path)  # changed since it was read
            self._stamps[path] = stamp

    # -- module names -------------------------------------------------------------------------
    def module_name(self, path: Path) -> tuple[str, bool] | None:
        """(dotted module name, is a package ``__init__``) of ``path``, or None."""
        resolved = _absolute(path)
        folder = resolved.parent
        if folder not in self._package_roots:
            self._package_roots[folder] = _package_root(resolved)
            self._add_root(self._package_roots[folder])
        best: tuple[str, ...] | None = None
        for root in self.roots:
            try:
                parts = resolved.relative_to(root).parts
            except ValueError:
                continue
            if best is None or len(parts) < len(best):
                best = parts
        if not best or not best[-1].endswith(".py"):
            return None
        stem = best[-1][: -len(".py")]
        folders = best[:-1]
        if stem == "__init__":
            return (".".join(folders), True) if folders else None
        if not all(p.isidentifier() for p in (*folders, stem)):
            return None
        return ".".join((*folders, stem)), False

    def _file_of(self, module: str) -> tuple[Path, bool] | None:
        if module in self._files:
            return self._files[module]
        found: tuple[Path, bool] | None = None
        parts = module.split(".")
        if all(p.isidentifier() for p in parts):
            for root in self.roots:
                candidate = root.joinpath(*parts)
                if candidate.with_suffix(".py").is_file():
                    found = (candidate.with_suffix(".py"), False)
                    break
                if (candidate / "__init__.py").is_file():
                    found = (candidate / "__init__.py", True)
                    break
        self._files[module] = found
        return found

    def _owner(self, qualified: str) -> tuple[str, list[str]] | None:
        """The longest prefix of ``qualified`` that is a project module, and the rest."""
        if qualified in self._owners:
            return self._owners[qualified]
        found: tuple[str, list[str]] | None = None
        parts = qualified.split(".")
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            if self._file_of(name) is not None:
                found = name, parts[end:]
                break
        self._owners[qualified] = found
        return found

    # -- summaries ----------------------------------------------------------------------------
    def module(self, name: str) -> ModuleSummary | None:
        located = self._file_of(name)
        if located is None:
            return None
        path, is_package = located
        self._current(path)
        found = self._summaries.get(path)
        if found is None:
            text = self._text(path)
            if text is None:
                return None
            found = self._summaries[path] = summarize_source(text, name, is_package)
        return found

    def summary_of(self, path: Path, text: str | None = None) -> ModuleSummary | None:
        """The summary of the file at ``path`` (its ``text`` when given, for the file being
        linted), with its relative imports made absolute."""
        resolved = _absolute(path)
        if text is None:
            self._current(resolved)
            found = self._summaries.get(resolved)
            if found is not None:
                return found
            text = self._text(resolved)
            if text is None:
                return None
        named = self.module_name(resolved)
        name, is_package = named if named is not None else ("", False)
        summary = summarize_source(text, name, is_package)
        self._summaries[resolved] = summary
        return summary

    def lookup(self, qualified: str, depth: int = 0) -> ClassSummary | FunctionSummary | None:
        """The project class, function or method ``qualified`` names, following re-exports
        (``from .base import BaseModel`` in a package's ``__init__``)."""
        if depth > _MAX_DEPTH:
            return None
        owner = self._owner(qualified)
        if owner is None or not owner[1]:
            return None
        name, tail = owner
        summary = self.module(name)
        if summary is None:
            return None
        first = tail[0]
        if first in summary.classes:
            cls = summary.classes[first]
            if len(tail) == 1:
                return cls
            return self.method(cls, summary, tail[1]) if len(tail) == 2 else None
        if first in summary.functions:
            return summary.functions[first] if len(tail) == 1 else None
        target = summary.imports.get(first)
        if target is not None and target != qualified:
            return self.lookup(".".join([target, *tail[1:]]), depth + 1)
        return None

    def lookup_class(self, qualified: str) -> tuple[ClassSummary, ModuleSummary] | None:
        found = self.lookup(qualified)
        if not isinstance(found, ClassSummary):
            return None
        return self._with_module(found, qualified)

    def _with_module(
        self, cls: ClassSummary, qualified: str, depth: int = 0
    ) -> tuple[ClassSummary, ModuleSummary] | None:
        owner = self._owner(qualified)
        if owner is None or depth > _MAX_DEPTH:
            return None
        summary = self.module(owner[0])
        if summary is None:
            return None
        if summary.classes.get(cls.name) is cls:
            return cls, summary
        target = summary.imports.get(owner[1][0]) if owner[1] else None
        if target is None:
            return None
        return self._with_module(cls, ".".join([target, *owner[1][1:]]), depth + 1)

    def resolve_class(
        self, base: str, where: ModuleSummary
    ) -> tuple[ClassSummary, ModuleSummary] | None:
        """A base as ``where`` spells it (``Base``, ``models.base.Base``) as a project class."""
        if "." not in base and base in where.classes:
            return where.classes[base], where
        return self.lookup_class(base)

    def method(
        self, cls: ClassSummary, summary: ModuleSummary, name: str
    ) -> FunctionSummary | None:
        """``cls.name``: defined by the class or inherited from a project base class."""
        return inherited_method(cls, summary, name, self.resolve_class)

    def is_module_class(self, cls: ClassSummary, summary: ModuleSummary) -> bool | None:
        """Whether ``cls`` derives from ``torch.nn.Module`` (or a LightningModule) through project
        classes: True; False when every base is known and none is one; None when unknown."""
        unknown = False
        for current, where in [(cls, summary), *base_classes(cls, summary, self.resolve_class)]:
            for base in current.bases:
                if is_module_base(base):
                    return True
                if self.resolve_class(base, where) is None and not says_nothing(base):
                    unknown = True
        return None if unknown else False

    def seeds(self, function: FunctionSummary, depth: int = 0) -> set[str]:
        """The generators a call of ``function`` seeds, through the project helpers it calls."""
        out = set(function.seeds)
        if depth >= _MAX_DEPTH:
            return out
        for callee in function.calls:
            found = self.lookup(callee)
            if isinstance(found, FunctionSummary) and found is not function:
                out |= self.seeds(found, depth + 1)
        return out

    # -- what a file depends on ---------------------------------------------------------------
    def dependency_fingerprint(self, path: Path, text: str | None = None) -> str:
        """A digest of the project files ``path`` imports, directly or through each other ("" when
        it imports none): part of its cache key."""
        resolved = _absolute(path)
        named = self.module_name(resolved)
        if named is None:
            return ""
        self._named[resolved] = named
        if text is not None:
            self._imported_modules(resolved, named, text)  # this text's imports, not the disk's
        if not self._edges(resolved):
            return ""
        found = self._fingerprints.get(resolved)
        if found is None:
            self._close_over(resolved)
            found = self._fingerprints[resolved]
        return found

    def _edges(self, path: Path) -> list[Path]:
        """The project files ``path`` imports."""
        known = self._edge_lists.get(path)
        if known is not None:
            return known
        named = self._named.get(path)
        if named is None:
            return []
        out: list[Path] = []
        for module in self._imported_modules(path, named, None):
            located = self._file_of(module)
            if located is not None and located[0] != path:
                self._named.setdefault(located[0], (module, located[1]))
                out.append(located[0])
        self._edge_lists[path] = out
        return out

    def _close_over(self, start: Path) -> None:
        """Fingerprint every file reachable from ``start``: Tarjan's strongly connected components
        of the import graph (iteratively), each component's digest covering its files and every
        component it reaches, so each file is visited once per run however many import it."""
        done: dict[Path, str] = {}  # kept here too: reading a changed file clears the run's
        index: dict[Path, int] = {}
        low: dict[Path, int] = {}
        stack: list[Path] = []
        on_stack: set[Path] = set()
        work: list[tuple[Path, Iterator[Path]]] = []

        def push(node: Path) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            work.append((node, iter(self._edges(node))))

        push(start)
        while work:
            node, children = work[-1]
            descended = False
            for child in children:
                if child in done or child in self._fingerprints:
                    continue  # finished: its component is done
                if child not in index:
                    push(child)
                    descended = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] != index[node]:
                continue
            members: list[Path] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            inside = set(members)
            reached = {
                done.get(child) or self._fingerprints[child]
                for member in members
                for child in self._edges(member)
                if child not in inside
            }
            digest = hashlib.blake2b(digest_size=16)
            for member in sorted(members):
                digest.update(str(member).encode())
                digest.update(self._digest(member).encode())
            for other in sorted(reached):
                digest.update(other.encode())
            value = digest.hexdigest()
            for member in members:
                done[member] = value
        self._fingerprints.update(done)

    def _digest(self, path: Path) -> str:
        """A digest of ``path``'s code: comment lines and blank lines left out, so that editing
        them in an imported file does not re-check every file importing it."""
        self._current(path)
        found = self._digests.get(path)
        if found is None:
            text = self._text(path)
            code = "" if text is None else code_only(text)
            data = code.encode("utf-8", "surrogateescape")
            found = self._digests[path] = hashlib.blake2b(data, digest_size=16).hexdigest()
        return found

    def _imported_modules(self, path: Path, named: tuple[str, bool], text: str | None) -> list[str]:
        """Project module names ``path``'s import statements may mean (candidates included:
        ``from pkg import x`` may import the module ``pkg.x``)."""
        if text is None:
            self._current(path)
            cached = self._imports.get(path)
            if cached is not None:
                return cached
            text = self._text(path) or ""
        out: list[str] = []
        for statement in _import_statements(text):
            match = _IMPORT.match(statement)
            if match is None:
                continue
            if match.group("modules") is not None:
                for part in match.group("modules").split(","):
                    module = part.strip().split(" ", 1)[0]
                    if module:
                        out.append(module)
                continue
            source = match.group("source")
            dots = len(source) - len(source.lstrip("."))
            base: str | None = source
            if dots:
                base = resolve_relative(named[0], named[1], dots, source[dots:])
            if not base:
                continue
            out.append(base)
            names = match.group("names").strip("() \t\n")
            for item in names.split(","):
                name = item.strip().split(" ", 1)[0]
                if name and name != "*":
                    out.append(f"{base}.{name}")
        found = [m for m in out if self._owner(m) is not None]
        self._imports[path] = found
        return found


# A line holding only a comment, or nothing.
_COMMENT_LINE = re.compile(r"^[ \t]*(?:#[^\n]*)?(?:\n|\Z)", re.MULTILINE)


def code_only(text: str) -> str:
    """``text`` without its comment lines and blank lines: no summary depends on them."""
    return _COMMENT_LINE.sub("", text)


def _absolute(path: Path) -> Path:
    """``path`` made absolute and normalised (links are not followed: cheaper, and a run sees
    every file several times)."""
    return Path(os.path.abspath(path))


def _import_statements(text: str) -> Iterator[str]:
    """The import statements of a text, one string each (a parenthesized list joined)."""
    for match in _STATEMENT_START.finditer(text):
        start = match.start(1)
        end = text.find("\n", start)
        line = text[start : end if end >= 0 else len(text)]
        if "(" in line and ")" not in line:
            close = text.find(")", start)
            line = text[start : close + 1 if close >= 0 else len(text)]
            line = " ".join(part.split("#", 1)[0] for part in line.split("\n"))
        yield line


_SHARED: dict[tuple[Path, ...], ProjectIndex] = {}


def shared_index(roots: Iterable[Path]) -> ProjectIndex:
    """This process's index for the ``src`` roots (``Settings.src_roots``), kept between files.

    What it read of a file is read again once the file changes on disk; which module names exist
    is asked afresh in each run (:func:`new_run`)."""
    key = tuple(Path(r) for r in roots)
    found = _SHARED.get(key)
    if found is None:
        found = _SHARED[key] = ProjectIndex(key)
    return found


def new_run() -> None:
    """A new run over the files: files may have been created or deleted since the last one."""
    for index in _SHARED.values():
        index.forget_module_names()
