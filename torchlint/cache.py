"""The results cache: a file's findings, keyed by its content and path, the settings and version.

The path is part of the key because rules read it (TL108 and TL020 treat test files apart, TL307
is silent inside ``torch/utils/data/``): one content at two paths can have different findings.

Entries live under ``.torchlint_cache/`` at the project root (the directory of the config file, or
the current directory), one small JSON file each, written atomically. A missing, truncated or
otherwise unreadable entry is a miss: the file is linted again and the entry rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchlint import __version__
from torchlint.atomic_write import write_atomically
from torchlint.diagnostics import (
    Applicability,
    Diagnostic,
    Edit,
    Fix,
    Position,
    Severity,
)

if TYPE_CHECKING:
    from torchlint.registry import RuleRef

CACHE_DIR_NAME = ".torchlint_cache"
_FORMAT = 1


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Identifies the linter itself, so editing a rule (not only a release) invalidates.

    Every file of the package counts: the modules and the data they read (``data/*.json``: the
    TL306 deprecation table, the rule index). Stamps (mtime and size), not contents, so a warm
    run stats some hundred files instead of reading them; computed once per process.
    """
    import torchlint

    package = os.path.dirname(os.path.realpath(torchlint.__file__))
    parts = []
    for directory, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            file = os.path.join(directory, name)
            try:
                info = os.stat(file)
            except OSError:
                continue
            relative = os.path.relpath(file, package).replace(os.sep, "/")
            parts.append(f"{relative}:{info.st_mtime_ns}:{info.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _rule_identity(rule: RuleRef) -> str:
    # Built-in rules are covered by code_fingerprint(); a plug-in's rule by its distribution's
    # fingerprint (name, version, and for an editable install its files: torchlint.plugins), so
    # editing any module of a plug-in, not only the rule's own, invalidates.
    return f"{rule.code}:{rule.module}:{rule.origin}"


def entry_key(
    digest: str,
    path: str,
    rules: Sequence[RuleRef],
    torch_version: tuple[int, int] | None,
    options: Any,
    mode_key: str,
) -> str:
    payload = json.dumps(
        [
            _FORMAT,
            __version__,
            code_fingerprint(),
            digest,
            path,
            [_rule_identity(r) for r in rules],
            torch_version,
            options,
            mode_key,
        ],
        default=str,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _position(data: list[int]) -> Position:
    line, column = data
    if not isinstance(line, int) or not isinstance(column, int):
        raise ValueError("bad position")
    return Position(line, column)


def diagnostic_to_json(d: Diagnostic) -> dict[str, Any]:
    fix = None
    if d.fix is not None:
        fix = {
            "title": d.fix.title,
            "applicability": d.fix.applicability.value,
            "edits": [
                [e.start.line, e.start.column, e.end.line, e.end.column, e.content]
                for e in d.fix.edits
            ],
        }
    return {
        "code": d.code,
        "name": d.name,
        "message": d.message,
        "severity": d.severity.value,
        "start": [d.start.line, d.start.column],
        "end": [d.end.line, d.end.column],
        "fix": fix,
        "category": d.category,
        "suggestion": d.suggestion,
        "cell": d.cell,
    }


def diagnostic_from_json(data: dict[str, Any], path: str) -> Diagnostic:
    fix = None
    if data["fix"] is not None:
        raw = data["fix"]
        fix = Fix(
            title=str(raw["title"]),
            applicability=Applicability(raw["applicability"]),
            edits=tuple(
                Edit(Position(a, b), Position(c, d), str(content))
                for a, b, c, d, content in raw["edits"]
            ),
        )
    return Diagnostic(
        code=str(data["code"]),
        name=str(data["name"]),
        message=str(data["message"]),
        severity=Severity(data["severity"]),
        path=path,
        start=_position(data["start"]),
        end=_position(data["end"]),
        fix=fix,
        category=str(data["category"]),
        suggestion=data["suggestion"],
        cell=data.get("cell"),
    )


class Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._prepared = False

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key[2:]}.json"

    def load(self, key: str, path: str) -> list[Diagnostic] | None:
        try:
            if self.directory.is_symlink() or self._entry(key).parent.is_symlink():
                return None  # planted entries could hide findings (see cache_dir_problem)
            raw = self._entry(key).read_text(encoding="utf-8")
            data = json.loads(raw)
            if data.get("key") != key:
                return None
            return [diagnostic_from_json(d, path) for d in data["diagnostics"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing or corrupted: never trusted

    def store(self, key: str, diagnostics: Sequence[Diagnostic]) -> None:
        try:
            self._prepare()
            target = self._entry(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.parent.is_symlink():
                return
            payload = json.dumps(
                {"key": key, "diagnostics": [diagnostic_to_json(d) for d in diagnostics]}
            )
            write_atomically(target, payload)
        except OSError:
            pass  # a read-only checkout still lints; it just does not cache

    def _prepare(self) -> None:
        if self._prepared:
            return
        problem = cache_dir_problem(self.directory)
        if problem is not None:
            raise NotADirectoryError(problem)  # never write into a folder that is not ours
        self.directory.mkdir(parents=True, exist_ok=True)
        # Written whole or not at all, and rewritten when an earlier run left one damaged (a
        # full disk once left them empty, and `clean` then refused the cache).
        for name, text in ((".gitignore", _GITIGNORE), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            marker = self.directory / name
            if not _reads(marker, text):
                write_atomically(marker, text)
        self._prepared = True


def cache_dir_problem(directory: Path) -> str | None:
    """Why torchlint must not use ``directory`` as its cache, or None when it may.

    It may when the directory does not exist yet (torchlint creates it), is empty, or holds only
    what torchlint writes there (markers, entry folders, temporary files). A symbolic link is
    never followed: a repository could ship ``.torchlint_cache`` pointing anywhere (the home
    folder), and entries read through it could hide findings. A folder holding anything else
    (``--cache-dir .``, a project) is never marked as a cache: ``.gitignore`` would hide it from
    git and ``CACHEDIR.TAG`` from backups.
    """
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot use the cache {directory}: {exc.strerror or exc}"
    if stat.S_ISLNK(info.st_mode):
        return f"the cache {directory} is a symbolic link; not followed, results are not cached"
    if not stat.S_ISDIR(info.st_mode):
        return f"the cache {directory} is not a directory; results are not cached"
    if _reads(directory / "CACHEDIR.TAG", _CACHEDIR_TAG) and _reads(
        directory / ".gitignore", _GITIGNORE
    ):
        return None  # marked by torchlint: asked once per stored entry, so no listing
    try:
        names = os.listdir(directory)
    except OSError as exc:
        return f"cannot use the cache {directory}: {exc.strerror or exc}"
    for name in names:
        if name in (".gitignore", "CACHEDIR.TAG") or name.startswith(".tmp-"):
            continue
        entry = directory / name
        if len(name) != 2 or not set(name) <= _HEX or entry.is_symlink() or not entry.is_dir():
            return (
                f"{directory} is not a torchlint cache (it holds {name!r}); results are not "
                "cached (give --cache-dir a new or empty folder)"
            )
    return None


_GITIGNORE = "# Created by torchlint automatically.\n*\n"
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by torchlint.\n"
)
_HEX = frozenset("0123456789abcdef")


def _reads(path: Path, prefix: str) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.read(len(prefix)) == prefix
    except (OSError, ValueError):
        return False


def is_cache_dir(directory: Path) -> bool:
    """Whether ``directory`` is a results cache torchlint wrote, and holds nothing else.

    It must carry a marker torchlint writes (its ``CACHEDIR.TAG`` or ``.gitignore``) and contain
    only those markers and entry folders (two hex digits each): a directory that also holds
    anything else (a project given as ``--cache-dir`` by mistake) is not one.
    """
    try:
        if directory.is_symlink() or not directory.is_dir():
            return False
        names = os.listdir(directory)
    except OSError:
        return False
    marked = _reads(directory / "CACHEDIR.TAG", _CACHEDIR_TAG) or _reads(
        directory / ".gitignore", _GITIGNORE
    )
    if not marked:
        return False
    for name in names:
        if name in (".gitignore", "CACHEDIR.TAG") or name.startswith(".tmp-"):
            continue
        entry = directory / name
        if len(name) != 2 or not set(name) <= _HEX or entry.is_symlink() or not entry.is_dir():
            return False
    return True


def project_cache_dir(start: Path) -> Path:
    """The cache a run uses by default for files under ``start``: at the project root (the
    directory of the nearest config file at or above ``start``, as for settings), else ``start``."""
    from torchlint.config import find_config, real_path

    config = find_config(start)
    return (config.parent if config is not None else real_path(start)) / CACHE_DIR_NAME


def find_caches(root: Path) -> list[Path]:
    """The project root's cache for ``root`` and every ``.torchlint_cache`` at or below it."""
    from torchlint.config import real_path

    found = [project_cache_dir(root)]
    for directory, dirnames, _ in os.walk(root):
        if CACHE_DIR_NAME in dirnames:
            found.append(real_path(Path(directory) / CACHE_DIR_NAME))
            dirnames.remove(CACHE_DIR_NAME)
        dirnames[:] = [d for d in dirnames if d not in (".git", ".venv", "node_modules")]
    return list(dict.fromkeys(p for p in found if p.exists() or p.is_symlink()))


class NotACache(Exception):
    """The directory is not (only) a torchlint cache, or could not be removed; nothing is lost."""


def remove_cache(directory: Path) -> None:
    """Delete the cache ``directory``; raises NotACache, deleting nothing, when it is not one."""
    import shutil

    if not is_cache_dir(directory):
        raise NotACache(
            "it does not look like a torchlint cache (no CACHEDIR.TAG or .gitignore "
            "written by torchlint, or it holds other files)"
        )
    try:
        shutil.rmtree(directory)
    except OSError as exc:
        raise NotACache(f"cannot remove it: {exc.strerror or exc}") from exc
