"""What the CI formats (sarif, github, gitlab, junit) share: repository-relative paths, stable
per-finding fingerprints and the rule metadata of a finding.

Paths are made relative to the *source root*: the nearest directory at or above the current
directory that holds ``.git`` (a directory, or a file in worktrees and submodules), else the current
directory. In CI that is the checkout root, which is what GitHub code scanning, workflow annotations
and GitLab Code Quality expect.

A fingerprint never contains a line number: it hashes the rule code and the anchor line's text
(whitespace-normalized), plus a counter that tells identical lines of one file apart, so a finding
keeps its fingerprint when unrelated lines are added or removed above it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from torchlint.diagnostics import Diagnostic, FileResult, RunResult
from torchlint.lines import source_lines

_SPACE = re.compile(r"\s+")


def source_root() -> Path:
    """The repository root (git top level) containing the current directory, else the cwd."""
    cwd = Path.cwd()
    for directory in (cwd, *cwd.parents):
        if (directory / ".git").exists():
            return directory
    return cwd


def relative_path(path: str, root: Path) -> str | None:
    """``path`` (as the runner shows it) relative to ``root`` with forward slashes, or None when the
    file lies outside ``root`` (or is standard input)."""
    if path == "-":
        return None
    absolute = Path(os.path.abspath(path))
    try:
        return PurePosixPath(*absolute.relative_to(root).parts).as_posix()
    except ValueError:
        return None


def display_path(path: str, root: Path) -> str:
    """A repository-relative path when there is one, else the path as given (forward slashes)."""
    relative = relative_path(path, root)
    return relative if relative is not None else path.replace(os.sep, "/")


def uri_of(path: str, root: Path) -> tuple[str, bool]:
    """(URI, whether it is relative to the root). Outside the root: an absolute ``file:`` URI."""
    relative = relative_path(path, root)
    if relative is not None:
        return quote(relative, safe="/!$&'()*+,;=@"), True
    if path == "-":
        return "stdin", False
    return Path(os.path.abspath(path)).as_uri(), False


def _normalized_line(source: str | None, line: int) -> str:
    if not source:
        return ""
    lines = source_lines(source)
    if not 0 < line <= len(lines):
        return ""
    return _SPACE.sub(" ", lines[line - 1].strip())


def line_hashes(file: FileResult) -> list[tuple[str, int]]:
    """For each diagnostic of ``file`` (same order): (hash of code + anchor line text, occurrence).

    The occurrence counts findings of the same code on identical lines earlier in the file (1-based).
    """
    source = file.fixed if file.fixed is not None else file.original
    order = sorted(range(len(file.diagnostics)), key=lambda i: file.diagnostics[i].sort_key)
    seen: dict[str, int] = {}
    out: list[tuple[str, int]] = [("", 0)] * len(file.diagnostics)
    for index in order:
        d = file.diagnostics[index]
        text = _normalized_line(source, d.start.line)
        digest = hashlib.sha256(f"{d.code}\0{text}".encode()).hexdigest()[:16]
        seen[digest] = seen.get(digest, 0) + 1
        out[index] = (digest, seen[digest])
    return out


@dataclass(frozen=True)
class Finding:
    """A diagnostic with what the CI formats add to it."""

    diagnostic: Diagnostic
    path: str  # repository-relative (forward slashes) when possible
    line_hash: str  # "<hex>:<occurrence>", GitHub's primaryLocationLineHash shape

    @property
    def fingerprint(self) -> str:
        """A stable identifier that also covers the path (for GitLab)."""
        key = f"{self.path}\0{self.diagnostic.code}\0{self.line_hash}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def findings(run: RunResult, root: Path) -> Iterator[Finding]:
    for file in run.files:
        if any(d.cell is not None for d in file.diagnostics):
            # A notebook: each finding on the line of the file that stores its code.
            from torchlint.notebook_files import as_stored

            stored = [as_stored(d, file.original) for d in file.diagnostics]
            file = replace(file, diagnostics=stored, fixed=None)
        for d, (digest, occurrence) in zip(file.diagnostics, line_hashes(file), strict=True):
            yield Finding(d, display_path(d.path, root), f"{digest}:{occurrence}")


def column(column0: int) -> int:
    """Diagnostics count columns from 0; every output format counts from 1."""
    return column0 + 1


# Characters XML 1.0 cannot carry (control characters other than tab, newline, carriage return).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)
