"""Reading Python files as text and writing them back without damage.

A file is decoded with the encoding Python itself would use (BOM, coding cookie, else UTF-8). A
write keeps that encoding, the BOM, the line endings, the permission bits, owner and group, goes
through a temporary file in the same directory and a rename (never a half-written file; a file
with several hard links is rewritten in place instead), and is refused when the file changed on
disk since it was read, up to the moment of the rename. A symbolic link is written through to its target.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import os
import re
import secrets
import signal
import stat
import sys
import tempfile
import tokenize
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

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


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_source(data: bytes, name: str = "<source>") -> tuple[str, str]:
    """(text, encoding) of Python source bytes."""
    wide = _wide_encoding(data)
    if wide is not None:
        raise SourceError(
            f"encoded as {wide}, which Python does not read as source: convert the file to UTF-8",
            is_content_problem=True,
        )
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


def _wide_encoding(data: bytes) -> str | None:
    """The name of the wide encoding (UTF-16, UTF-32) ``data`` is text in, if any: a BOM, or
    ASCII with every other byte null, as Windows tools write. Such text holds null bytes but is
    not binary."""
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if data.startswith(bom):
            return name
    head = data[:512]
    if len(head) >= 4 and len(head) % 2 == 0:
        if head[1::2].count(0) == len(head) // 2 and 0 not in head[0::2]:
            return "UTF-16"  # little endian, no BOM
        if head[0::2].count(0) == len(head) // 2 and 0 not in head[1::2]:
            return "UTF-16"  # big endian, no BOM
    return None


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


CHANGED_WHILE_WRITING = (
    "file changed on disk while the fixes were being written (saved by another program?); "
    "that version was kept and the fixes were not written"
)


def write_source(original: SourceFile, new_text: str) -> None:
    """Atomically replace ``original.path`` with ``new_text`` in the file's own encoding.

    A symbolic link is written through: its target is replaced (by a temporary file in the
    target's directory and a rename) and the link stays a link. The file is compared with what
    was read once more at the last moment (on Linux, after an atomic exchange that is undone when
    it took someone else's save), so an edit saved while the fixes are written is never lost.
    The owner, group and permission bits are kept; a file with several hard links is rewritten
    in place, so that the links still share it.
    """
    path = Path(os.path.realpath(original.path))
    try:
        current = path.read_bytes()
        info = path.stat()
    except OSError as exc:
        raise WriteRefused(f"cannot re-read before writing: {exc.strerror or exc}") from exc
    mode = stat.S_IMODE(info.st_mode)
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
    # Ctrl-C, SIGTERM and SIGHUP wait until the file is whole and no temporary file is left.
    with _signals_deferred():
        if info.st_nlink > 1:
            _write_in_place(path, data, original.digest)
        else:
            _write_by_rename(path, data, info, original.digest)


_DEFERRED_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _write_in_place(path: Path, data: bytes, digest: str) -> None:
    """Rewrite a hard-linked file through its own inode (a rename would split the links)."""
    with open(path, "r+b") as handle:
        if digest_of(handle.read()) != digest:
            raise WriteRefused(CHANGED_WHILE_WRITING)
        handle.seek(0)
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())


def _write_by_rename(path: Path, data: bytes, info: os.stat_result, digest: str) -> None:
    temp = _complete_temp_file(path, data, info)
    keep_temp = False
    try:
        if _exchange(temp, path):
            # ``temp`` now names what ``path`` held a moment ago: it must be what was read.
            if digest_of(temp.read_bytes()) != digest:
                try:
                    _exchange(temp, path)
                except OSError as exc:
                    keep_temp = True  # it holds the other program's save: never delete it
                    raise WriteRefused(
                        f"file changed on disk while the fixes were being written; the other "
                        f"version is saved as {temp.name} beside it ({exc.strerror or exc})"
                    ) from exc
                raise WriteRefused(CHANGED_WHILE_WRITING)
        else:
            if digest_of(path.read_bytes()) != digest:
                raise WriteRefused(CHANGED_WHILE_WRITING)
            os.replace(temp, path)
    finally:
        if not keep_temp:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass


def _complete_temp_file(path: Path, data: bytes, info: os.stat_result) -> Path:
    """A file beside ``path`` holding ``data`` (synced), with ``path``'s mode, owner and group.

    On Linux it is written unnamed (``O_TMPFILE``) and named only once complete: a process
    killed while writing leaves nothing behind.
    """
    directory = path.parent
    fd = -1
    if hasattr(os, "O_TMPFILE"):
        try:
            fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except OSError:
            fd = -1  # a file system without unnamed files: a named one below
    if fd >= 0:
        try:
            _fill(fd, data, info)
            for _ in range(100):
                temp = directory / f".{path.name}.{secrets.token_hex(4)}.torchlint"
                try:
                    os.link(f"/proc/self/fd/{fd}", temp)
                    return temp
                except FileExistsError:
                    continue
                except OSError:
                    break  # no /proc: a named file below
        finally:
            os.close(fd)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".torchlint", dir=directory)
    except OSError as exc:
        raise WriteRefused(f"cannot create a temporary file beside it: {exc.strerror}") from exc
    try:
        _fill(fd, data, info)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    os.close(fd)
    return Path(name)


def _fill(fd: int, data: bytes, info: os.stat_result) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if hasattr(os, "fchown") and (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, info.st_uid, info.st_gid)  # root fixing another user's file
        except OSError:
            pass  # not allowed (not root): the file gets our group, as any editor's save does
    if hasattr(os, "fchmod"):  # after fchown, which clears set-id bits; Windows has no modes
        os.fchmod(fd, stat.S_IMODE(info.st_mode))
    os.fsync(fd)  # content and owner on disk before the file gets a name


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@lru_cache(maxsize=1)
def _renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2  # glibc 2.28 and later
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


def _exchange(a: Path, b: Path) -> bool:
    """Swap the files named ``a`` and ``b`` atomically; False where the system cannot."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False  # an old kernel or a file system without it: rename after a last check
    raise OSError(error, os.strerror(error), str(b))
