"""The language server's message loop over stdio, in place of pygls's own.

pygls's loop died on a huge ``Content-Length`` (it allocates the whole body: MemoryError), lost
its footing for good on a header or body cut short, sent no reply to a request whose params do
not fit its method (the client waited forever), answered nothing after ``shutdown``, exited 0
on ``exit`` without ``shutdown`` and let any request through before ``initialize``. This loop
frames messages itself and answers each of those as the LSP specification asks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol.types import ResponseError
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter

if TYPE_CHECKING:
    from torchlint.lsp import TorchlintServer

log = logging.getLogger("torchlint.lsp")

# A 10 MiB document (the command line's file limit), escaped in JSON, fits; more is refused
# before anything is allocated for it.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8192
HEADER_START = re.compile(rb"content-length:", re.IGNORECASE)
FIELD = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[^\r\n]*$")
LENGTH = re.compile(rb"^content-length:[ \t]*(\d+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602
SERVER_NOT_INITIALIZED = -32002


@dataclass(frozen=True)
class Problem:
    """Bytes that were not a message (what was skipped, for the log)."""

    message: str


class Framer:
    """Reads ``Content-Length`` framed messages and finds its way back after a bad frame: to
    the next header, wherever it starts."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.skip = 0  # bytes of a refused message still to drop

    def _fill(self) -> bool:
        read = getattr(self.stream, "read1", None)
        chunk = read(65536) if read is not None else os.read(self.stream.fileno(), 65536)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def _resync(self, start: int) -> None:
        """Drop what comes before the next header at or after ``start``."""
        found = HEADER_START.search(self.buffer, start)
        if found is not None:
            del self.buffer[: found.start()]
        else:  # keep a tail that may be the start of a header cut in two
            del self.buffer[: max(len(self.buffer) - len("content-length:"), 0)]

    def next(self) -> bytes | Problem | None:
        """The next message body, a Problem for bytes skipped, or None at the end of input."""
        while self.skip:
            found = HEADER_START.search(self.buffer)
            if found is not None and found.start() < self.skip:
                del self.buffer[: found.start()]  # the size was a lie: the next message is here
                self.skip = 0
                break
            dropped = min(self.skip, max(len(self.buffer) - len("content-length:"), 0))
            del self.buffer[:dropped]
            self.skip -= dropped
            if self.skip and not self._fill():
                return None
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self._resync(1)
                    return Problem("a header block without an end was skipped")
                if not self._fill():
                    return None
                continue
            header = bytes(self.buffer[:end])
            match = LENGTH.search(header)
            if match is None or not all(FIELD.match(line) for line in header.split(b"\r\n")):
                # Junk before a header (the rest of a body cut short), or no length at all.
                self._resync(1)
                return Problem(f"skipped bytes that were not a message: {header[:80]!r}")
            del self.buffer[: end + 4]
            length = int(match.group(1))
            if length > MAX_MESSAGE_BYTES:
                self.skip = length
                return Problem(
                    f"a message of {length:,} bytes was refused (the limit is "
                    f"{MAX_MESSAGE_BYTES:,}); the server keeps running"
                )
            while len(self.buffer) < length:
                cut = self._cut_short(length)
                if cut is not None:
                    return cut
                if not self._fill():
                    return None
            body = bytes(self.buffer[:length])
            del self.buffer[:length]
            return self._give_back_header(body)

    def _give_back_header(self, body: bytes) -> bytes:
        """A Content-Length that overstated a body by a few bytes took the start of the next
        header into it (``...}Co`` + ``ntent-Length: 52``): give those bytes back."""
        name = b"content-length:"
        rest = bytes(self.buffer[: len(name)]).lower()
        if not rest or rest.startswith(name):
            return body
        for taken in range(1, len(name)):
            if body[-taken:].lower() == name[:taken] and rest.startswith(name[taken:]):
                self.buffer[0:0] = body[-taken:]
                return body[:-taken]
        return body

    def _cut_short(self, length: int) -> bytes | None:
        """A body whose Content-Length overstated it, when the next message has already begun
        inside it (raw CR LF CR LF never occurs inside a JSON message): the body up to there."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or end >= length:
            return None
        starts = [m.start() for m in HEADER_START.finditer(self.buffer, 0, end)]
        if not starts or starts[-1] == 0:
            return None
        body = bytes(self.buffer[: starts[-1]])
        del self.buffer[: starts[-1]]
        return body


class Session:
    """The state the specification gives the connection: before ``initialize``, running, and
    after ``shutdown``."""

    def __init__(self, server: TorchlintServer) -> None:
        self.server = server
        self.protocol = server.protocol
        self.initialized = False
        self.shut_down = False

    def reply_error(self, msg_id: Any, code: int, message: str) -> None:
        self.protocol._send_response(msg_id, None, ResponseError(code=code, message=message))

    def handle(self, body: bytes) -> int | None:
        """Handle one message; the exit status once the client says ``exit``."""
        try:
            data = json.loads(body)
        except ValueError as exc:  # UnicodeDecodeError is one
            self.server.log(f"torchlint: a message that is not JSON was skipped: {exc}")
            self.reply_error(None, PARSE_ERROR, f"Parse error: {exc}")
            return None
        if not isinstance(data, dict):
            self.reply_error(None, INVALID_REQUEST, "Invalid request: not a JSON object")
            return None
        method = data.get("method")
        is_request = "id" in data and isinstance(method, str)
        if method == "exit":
            return 0 if self.shut_down else 1
        if isinstance(method, str):
            if not self.initialized and method != "initialize":
                if is_request:  # notifications are dropped, as the specification says
                    self.reply_error(
                        data["id"], SERVER_NOT_INITIALIZED, "the server is not initialized yet"
                    )
                return None
            if self.shut_down:
                if is_request:
                    self.reply_error(
                        data["id"], INVALID_REQUEST, "the server is shutting down (after shutdown)"
                    )
                return None
        try:
            message = self.protocol.structure_message(data)
        except JsonRpcException as exc:
            cause = exc.__cause__ or exc
            detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            if is_request:
                self.reply_error(
                    data["id"], INVALID_PARAMS, f"Invalid params for {method}: {detail}"
                )
            else:
                self.server.log(f"torchlint: ignoring {method} with invalid params: {detail}")
            return None
        self.protocol.handle_message(message)
        if method == "initialize":
            self.initialized = True
        elif method == "shutdown":
            self.shut_down = True
        return None


async def _loop(server: TorchlintServer, framer: Framer) -> int:
    session = Session(server)
    reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lsp-read")
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await loop.run_in_executor(reader, framer.next)
            if item is None:
                return 0  # the client went away
            if isinstance(item, Problem):
                server.log(f"torchlint: {item.message}")
                continue
            try:
                status = session.handle(item)
            except Exception:  # never let one message end the session
                server.log_exception("message handling")
                continue
            if status is not None:
                return status
    finally:
        reader.shutdown(wait=False)


def serve_stdio(server: TorchlintServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Serve until ``exit`` (status 0 after ``shutdown``, else 1) or the end of input."""
    server.protocol.set_writer(StdoutWriter(stdout))
    server._stop_event = threading.Event()  # pygls's start_io sets it; handlers may look
    status = 1
    try:
        status = asyncio.run(_loop(server, Framer(stdin)))
    except BrokenPipeError:
        log.error("the connection to the client is lost")
    finally:
        try:
            stdout.flush()
        except OSError:
            pass
        sys.stderr.flush()
    # Not sys.exit: it would wait for a lint still running on the worker thread.
    os._exit(status)
