"""Reading Python files as text and writing them back without damage.

A file is decoded with the encoding Python itself would use (BOM, coding cookie, else UTF-8). A
write keeps that encoding, the BOM, the line endings and the permission bits, goes through a
temporary file in the same directory and a rename (never a half-written file), and is refused when
the file changed on disk since it was read.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 10 * 1024 * 1024


class SourceError(Exception):
    """A file that cannot be read as Python text; the message says why, for the user."""

    def __init__(self, message: str, *, is_content_problem: bool = False) -> None:
        super().__init__(message)
        self.is_content_problem = is_content_problem  # bad bytes (a finding) vs. I/O (an error)


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
        raise SourceError(
            "binary file (contains null bytes), not Python source", is_content_problem=True
        )
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "invalid or missing encoding declaration" not in str(exc.msg):
            raise SourceError(
                f"invalid encoding declaration: {exc.msg}", is_content_problem=True
            ) from exc
        encoding = "utf-8"  # undecodable first lines: the decode below says where
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            f"cannot decode as {encoding}: invalid byte {data[exc.start : exc.start + 1]!r} "
            f"on line {line} (declare the encoding, e.g. `# -*- coding: latin-1 -*-`, "
            "or convert the file to UTF-8)",
            is_content_problem=True,
        ) from exc
    except LookupError as exc:
        raise SourceError(f"unknown encoding {encoding!r}", is_content_problem=True) from exc


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
    """Atomically replace ``original.path`` with ``new_text`` in the file's own encoding."""
    path = original.path
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
