"""The results cache: a file's findings, keyed by its content, the effective settings and version.

Entries live under ``.torchlint_cache/`` at the project root (the directory of the config file, or
the current directory), one small JSON file each, written atomically. A missing, truncated or
otherwise unreadable entry is a miss: the file is linted again and the entry rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchlint import __version__
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
    """Identifies the linter code itself, so editing a rule (not only a release) invalidates."""
    import torchlint

    package = Path(torchlint.__file__).resolve().parent
    parts = []
    for file in sorted(package.rglob("*.py")):
        try:
            info = file.stat()
        except OSError:
            continue
        parts.append(f"{file.relative_to(package)}:{info.st_mtime_ns}:{info.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@cache
def _rule_identity(rule: RuleRef) -> str:
    # Memoised: asked once per file and rule, and a rule's module cannot change within a run.
    # Built-in rules are covered by code_fingerprint(); a plug-in's module file is stamped.
    stamp = ""
    if not rule.module.startswith("torchlint."):
        module = sys.modules.get(rule.module)
        origin = getattr(module, "__file__", None) or ""
        if origin:
            try:
                info = os.stat(origin)
                stamp = f"{info.st_mtime_ns}:{info.st_size}"
            except OSError:
                pass
    return f"{rule.code}:{rule.module}:{stamp}"


def entry_key(
    digest: str,
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
    )


class Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._prepared = False

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key[2:]}.json"

    def load(self, key: str, path: str) -> list[Diagnostic] | None:
        try:
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
            payload = json.dumps(
                {"key": key, "diagnostics": [diagnostic_to_json(d) for d in diagnostics]}
            )
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(temp, target)  # atomic: a concurrent reader sees old or new, never half
        except OSError:
            pass  # a read-only checkout still lints; it just does not cache

    def _prepare(self) -> None:
        if self._prepared:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        ignore = self.directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Created by torchlint automatically.\n*\n", encoding="utf-8")
        tag = self.directory / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text(
                "Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by torchlint.\n",
                encoding="utf-8",
            )
        self._prepared = True


def clean(root: Path) -> list[Path]:
    """Remove every ``.torchlint_cache`` directory at or below ``root``; returns those removed."""
    import shutil

    removed = []
    for directory, dirnames, _ in os.walk(root):
        if CACHE_DIR_NAME in dirnames:
            target = Path(directory) / CACHE_DIR_NAME
            shutil.rmtree(target, ignore_errors=True)
            removed.append(target)
            dirnames.remove(CACHE_DIR_NAME)
        dirnames[:] = [d for d in dirnames if d not in (".git", ".venv", "node_modules")]
    return removed
