"""Reading Python files as text and writing them back without damage.

A file is decoded with the encoding Python itself would use (BOM, coding cookie, else UTF-8). A
write keeps that encoding, the BOM, the line endings and the permission bits, goes through a
temporary file in the same directory and a rename (never a half-written file), and is refused when
the file changed on disk since it was read. A symbolic link is written through to its target.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 10 * 1024 * 1024


class SourceError(Exception):
    """A file that cannot be read as Python text; the message says why, for the user."""

    def __init__(
        self, message: str, *, is_content_problem: bool = False, line: int = 1, column: int = 0
    ) -> None:
        super().__init__(message)
        self.is_content_problem = is_content_problem  # bad bytes (a finding) vs. I/O (an error)
        # Where a content problem is (1-based line, 0-based column in characters): the line the
        # message names, so that the finding and its message agree.
        self.line = line
        self.column = column


class WriteRefused(Exception):
    pass


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str
    encoding: str
    digest: str  # sha256 of the bytes as read

    @property
    def has_bom(self) -> bool:
        return self.encoding == "utf-8-sig"


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_source(data: bytes, name: str = "<source>") -> tuple[str, str]:
    """(text, encoding) of Python source bytes."""
    if b"\x00" in data[:8192]:
        line, column = _location(data, data.index(b"\x00"), "latin-1")
        raise SourceError(
            "binary file (contains null bytes), not Python source",
            is_content_problem=True,
            line=line,
            column=column,
        )
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "invalid or missing encoding declaration" not in str(exc.msg):
            line = _cookie_line(data)
            raise SourceError(
                f"invalid encoding declaration on line {line}: {exc.msg}",
                is_content_problem=True,
                line=line,
            ) from exc
        encoding = "utf-8"  # undecodable first lines: the decode below says where
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line, column = _location(data, exc.start, encoding)
        raise SourceError(
            f"cannot decode as {encoding}: invalid byte {data[exc.start : exc.start + 1]!r} "
            f"on line {line} (declare the encoding, e.g. `# -*- coding: latin-1 -*-`, "
            "or convert the file to UTF-8)",
            is_content_problem=True,
            line=line,
            column=column,
        ) from exc
    except LookupError as exc:
        line = _cookie_line(data)
        raise SourceError(
            f"unknown encoding {encoding!r} declared on line {line}",
            is_content_problem=True,
            line=line,
        ) from exc


_NEWLINE = re.compile(rb"\r\n|\r|\n")  # what ends a line of Python source (see lines.py)
# The coding cookie, as PEP 263 and the tokenizer read it (on line 1 or 2).
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


def _location(data: bytes, offset: int, encoding: str) -> tuple[int, int]:
    """(1-based line, 0-based column in characters) of the byte at ``offset``."""
    line, start = 1, 0
    for match in _NEWLINE.finditer(data, 0, offset):
        line, start = line + 1, match.end()
    try:
        column = len(data[start:offset].decode(encoding, errors="replace"))
    except LookupError:
        column = offset - start
    return line, column


def _cookie_line(data: bytes) -> int:
    """The line of the coding cookie (1 or 2; 1 when there is none)."""
    lines = data.splitlines()[:2]
    if len(lines) == 2 and not _COOKIE.match(lines[0]) and _COOKIE.match(lines[1]):
        return 2
    return 1


def read_source(path: Path, max_bytes: int = MAX_FILE_BYTES) -> SourceFile:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or device named *.py would block or never end: never open it.
            raise SourceError("not a regular file")
        size = info.st_size
        if size > max_bytes:
            raise SourceError(
                f"skipped: file is {size / 1024 / 1024:.1f} MiB, over the "
                f"{max_bytes // 1024 // 1024} MiB limit"
            )
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise SourceError("is a directory, not a file") from exc
    except PermissionError as exc:
        raise SourceError("permission denied") from exc
    except FileNotFoundError as exc:
        raise SourceError("no such file") from exc
    except OSError as exc:
        raise SourceError(exc.strerror or str(exc)) from exc
    text, encoding = decode_source(data, str(path))
    return SourceFile(path=path, text=text, encoding=encoding, digest=digest_of(data))


def write_source(original: SourceFile, new_text: str) -> None:
    """Atomically replace ``original.path`` with ``new_text`` in the file's own encoding.

    A symbolic link is written through: its target is replaced (by a temporary file in the
    target's directory and a rename) and the link stays a link.
    """
    path = Path(os.path.realpath(original.path))
    try:
        current = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise WriteRefused(f"cannot re-read before writing: {exc.strerror or exc}") from exc
    if digest_of(current) != original.digest:
        raise WriteRefused("file changed on disk since it was read; not overwritten")
    writable_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    # Root passes os.access(); the permission bits still say what the owner wants.
    if not os.access(path, os.W_OK) or not mode & writable_bits:
        raise WriteRefused("file is read-only; not modified")
    try:
        data = new_text.encode(original.encoding)
    except UnicodeEncodeError as exc:
        raise WriteRefused(f"fixed text cannot be encoded as {original.encoding}") from exc
    directory = path.parent
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".torchlint", dir=directory)
    except OSError as exc:
        raise WriteRefused(f"cannot create a temporary file beside it: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
