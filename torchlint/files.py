"""Which files a run looks at: the paths given, walked, minus excludes and .gitignore'd paths."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from torchlint.config import Settings, real_path

PYTHON_SUFFIXES = (".py", ".pyi")
NOTEBOOK_SUFFIX = ".ipynb"
LINTED_SUFFIXES = (*PYTHON_SUFFIXES, NOTEBOOK_SUFFIX)


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message)


def _spec(patterns: Iterable[str]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a directory we may not look into holds no ignore file we can use
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


class Excluder:
    """Applies settings excludes (relative to the config root) and .gitignore files.

    Everything that depends only on a directory (its real path, its settings, the .gitignore
    files above it) is computed once per directory: a walk asks about every file.
    """

    def __init__(self, settings_for: Callable[[Path], Settings]) -> None:
        self.settings_for = settings_for
        self._specs: dict[tuple[str, ...], pathspec.GitIgnoreSpec] = {}
        self._gitignores: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._real: dict[Path, str] = {}
        self._chains: dict[str, list[tuple[str, pathspec.GitIgnoreSpec]]] = {}

    def _excludes(self, settings: Settings) -> pathspec.GitIgnoreSpec:
        key = settings.all_excludes
        if key not in self._specs:
            self._specs[key] = _spec(key)
        return self._specs[key]

    def _real_dir(self, directory: Path) -> str:
        real = self._real.get(directory)
        if real is None:
            real = self._real[directory] = str(real_path(directory))
        return real

    def _real_path(self, path: Path) -> str:
        return os.path.join(self._real_dir(path.parent), path.name)

    def by_settings(self, path: Path, is_dir: bool) -> bool:
        settings = self.settings_for(path if is_dir else path.parent)
        spec = self._excludes(settings)
        root = self._real_dir(settings.root)
        real = self._real_path(path)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            relative = Path(os.path.relpath(real, root)).as_posix()
        else:
            relative = path.name
        suffix = "/" if is_dir else ""
        return spec.match_file(relative + suffix) or spec.match_file(path.name + suffix)

    def _gitignore(self, directory: str) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._gitignores:
            candidate = Path(directory) / ".gitignore"
            spec = None
            if _is_file(candidate):
                try:
                    spec = _spec(
                        candidate.read_text(encoding="utf-8", errors="replace").splitlines()
                    )
                except OSError:
                    spec = None
            self._gitignores[directory] = spec
        return self._gitignores[directory]

    def _chain(self, directory: str) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        """The .gitignore specs that apply inside ``directory``, nearest first."""
        chain = self._chains.get(directory)
        if chain is None:
            chain = []
            spec = self._gitignore(directory)
            if spec is not None:
                chain.append((directory, spec))
            parent = os.path.dirname(directory)
            if parent != directory and not _exists(Path(directory) / ".git"):
                chain.extend(self._chain(parent))  # above the repository, none apply
            self._chains[directory] = chain
        return chain

    def by_gitignore(self, path: Path, is_dir: bool) -> bool:
        real = self._real_path(path)
        suffix = "/" if is_dir else ""
        for directory, spec in self._chain(os.path.dirname(real)):
            relative = Path(os.path.relpath(real, directory)).as_posix() + suffix
            if spec.match_file(relative):
                return True
        return False

    def included(self, path: Path) -> bool:
        """Whether ``extend-include`` names a file that is not ``.py``, ``.pyi`` or ``.ipynb``."""
        settings = self.settings_for(path.parent)
        if not settings.extend_include:
            return False
        key = ("include",) + settings.extend_include
        if key not in self._specs:
            self._specs[key] = _spec(settings.extend_include)
        root = self._real_dir(settings.root)
        real = self._real_path(path)
        relative = path.name
        if real.startswith(root.rstrip(os.sep) + os.sep):
            relative = Path(os.path.relpath(real, root)).as_posix()
        return self._specs[key].match_file(relative) or self._specs[key].match_file(path.name)

    def excluded(self, path: Path, is_dir: bool) -> bool:
        return self.by_settings(path, is_dir) or self.by_gitignore(path, is_dir)


def discover(
    paths: Sequence[Path],
    settings_for: Callable[[Path], Settings],
    *,
    force_exclude: bool = False,
) -> Discovery:
    """Files to lint, in a stable order. Explicit files are kept unless ``force_exclude``."""
    result = Discovery()
    excluder = Excluder(settings_for)
    # One file reached by several paths (a symlink beside its target, a path given twice) is
    # linted and fixed once. It is shown by its first path that is not a symlink, if any.
    seen: dict[Path, int] = {}
    kept: list[Path | None] = []

    def add(path: Path) -> None:
        key = real_path(path)
        if key not in seen:
            seen[key] = len(kept)
            kept.append(path)
            return
        index = seen[key]
        earlier = kept[index]
        if earlier is not None and _is_link(earlier) and not _is_link(path):
            kept[index] = None  # the file takes the place of its real name
            seen[key] = len(kept)
            kept.append(path)

    for path in paths:
        try:
            link = os.lstat(path)
        except OSError as exc:  # missing, or inside a directory we may not enter
            result.errors.append((str(path), path_problem(exc)))
            continue
        try:
            info = os.stat(path)
        except OSError as exc:
            dangling = stat.S_ISLNK(link.st_mode) and isinstance(exc, FileNotFoundError)
            result.errors.append(
                (str(path), "broken symbolic link" if dangling else path_problem(exc))
            )
            continue
        if stat.S_ISDIR(info.st_mode):
            for found in _walk(path, excluder, result):
                add(found)
        elif stat.S_ISREG(info.st_mode):
            if not _python_file(path):
                continue  # `torchlint notes.txt`: nothing to lint (the CLI says so, like ruff)
            if not (force_exclude and excluder.excluded(path, False)):
                add(path)
        else:
            result.errors.append((str(path), "not a regular file or directory"))
    result.files = [path for path in kept if path is not None]
    return result


def _python_file(path: Path) -> bool:
    """A file named on the command line is Python when its name says so or, like an executable
    script (pre-commit's `types: [python]`), its first line is a Python shebang."""
    if path.name.endswith(LINTED_SUFFIXES) or path.name == "-":
        return True
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return True  # let the run report why it cannot be read
    return first.startswith(b"#!") and b"python" in first


def _is_link(path: Path) -> bool:
    try:
        return path.is_symlink()
    except OSError:
        return False


def path_problem(error: OSError) -> str:
    """What is wrong with a path, for the user (the same words for files and directories)."""
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        return "no such file or directory"
    return error.strerror or str(error)


def _walk(root: Path, excluder: Excluder, result: Discovery) -> Iterable[Path]:
    def on_error(error: OSError) -> None:
        result.errors.append((error.filename or str(root), path_problem(error)))

    for directory, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        base = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if not excluder.excluded(base / d, True))
        for name in sorted(filenames):
            if not name.endswith(LINTED_SUFFIXES) and not excluder.included(base / name):
                continue
            path = base / name
            if not excluder.excluded(path, False):
                yield path
