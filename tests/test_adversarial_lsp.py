"""Issue 18, part B: the language server against a misbehaving client and hostile documents
(items 12, 13, 15, 26, 27, 32). A raw stdio client: the framing itself is under test."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls")

Message = dict[str, Any]


class RawClient:
    """Writes bytes to the server, reads its framed messages back."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.buffer = b""
        self.seen: list[Message] = []

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: Message) -> None:
        body = json.dumps(message).encode()
        self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def request(self, msg_id: int, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def _read_message(self, deadline: float) -> Message | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                header = self.buffer[:end].decode()
                length = int(header.split("Content-Length:")[1].split("\r\n")[0])
                if len(self.buffer) >= end + 4 + length:
                    body = self.buffer[end + 4 : end + 4 + length]
                    self.buffer = self.buffer[end + 4 + length :]
                    return json.loads(body)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buffer += chunk

    def wait_for(self, test: Callable[[Message], bool], timeout: float = 60) -> Message:
        for message in self.seen:
            if test(message):
                self.seen.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message is None:
                raise AssertionError(f"no such message in {timeout} s; got {self.seen}")
            if test(message):
                return message
            self.seen.append(message)

    def reply(self, msg_id: int, timeout: float = 60) -> Message:
        return self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    def diagnostics(self, uri: str, timeout: float = 60) -> list[Message]:
        message = self.wait_for(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
            ),
            timeout,
        )
        return message["params"]["diagnostics"]

    def initialize(self, root: Path, options: Any = None) -> None:
        self.request(
            1,
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "capabilities": {},
                "initializationOptions": options,
            },
        )
        assert "result" in self.reply(1)
        self.notify("initialized", {})

    def open(self, path: Path, text: str, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": version,
                    "text": text,
                }
            },
        )
        return uri


@contextlib.contextmanager
def server(cwd: Path) -> Iterator[RawClient]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchlint", "lsp"],
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield RawClient(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


FINDING = "import torch\nsd = torch.load(p)\n"


def codes(diagnostics: list[Message]) -> list[str]:
    return [d["code"] for d in diagnostics]


def exit_status(client: RawClient) -> int:
    return client.proc.wait(timeout=30)


# -- item 26: the protocol ------------------------------------------------------------------------


def test_request_before_initialize_is_server_not_initialized(tmp_path: Path) -> None:
    with server(tmp_path) as client:
        client.request(7, "textDocument/hover", {"textDocument": {"uri": "file:///x.py"}})
        assert client.reply(7)["error"]["code"] == -32002
        client.initialize(tmp_path)


def test_invalid_params_get_an_error_reply(tmp_path: Path) -> None:
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        client.request(2, "textDocument/hover", {"textDocument": 5})
        error = client.reply(2)["error"]
        assert error["code"] == -32602
        assert "textDocument/hover" in error["message"]
        uri = client.open(tmp_path / "a.py", FINDING)  # still serving
        assert codes(client.diagnostics(uri)) == ["TL201"]


def test_requests_after_shutdown_are_invalid_and_exit_is_zero(tmp_path: Path) -> None:
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        client.request(2, "shutdown")
        assert client.reply(2)["result"] is None
        client.request(3, "textDocument/hover", {"textDocument": {"uri": "file:///x.py"}})
        assert client.reply(3)["error"]["code"] == -32600
        client.notify("exit")
        assert exit_status(client) == 0


def test_exit_without_shutdown_exits_one(tmp_path: Path) -> None:
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        client.notify("exit")
        assert exit_status(client) == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"Content-Length: 5\r\n\r\n{]]]]",  # not JSON
        b'Content-Length: 30\r\n\r\n{"jsonrpc": "2.0", "method"',  # cut short: next header follows
        b"hello there\r\n\r\n",  # no header at all
        b"Content-Length: abc\r\n\r\n",
    ],
    ids=["not-json", "cut-short", "no-header", "bad-length"],
)
def test_framing_errors_recover(tmp_path: Path, garbage: bytes) -> None:
    """The server answers the next well-framed message (it wedged until stdin closed)."""
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        client.send_bytes(garbage)
        uri = client.open(tmp_path / "a.py", FINDING)
        assert codes(client.diagnostics(uri, timeout=30)) == ["TL201"]
        client.request(5, "shutdown")
        assert "result" in client.reply(5)


def test_overstated_content_length_recovers(tmp_path: Path) -> None:
    """A length larger than the body: the next message, already in the stream, is found."""
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        body = b'{"jsonrpc": "2.0", "method": "$/nothing"}'
        client.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(body) + 500) + body)
        uri = client.open(tmp_path / "a.py", FINDING)
        assert codes(client.diagnostics(uri, timeout=30)) == ["TL201"]


# -- item 15: a huge Content-Length ---------------------------------------------------------------


def test_huge_content_length_does_not_kill_the_server(tmp_path: Path) -> None:
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        client.send_bytes(b"Content-Length: 99999999999\r\n\r\n{}")
        uri = client.open(tmp_path / "a.py", FINDING)
        assert codes(client.diagnostics(uri, timeout=30)) == ["TL201"]
        assert client.proc.poll() is None


# -- items 12, 13, 27, 32: documents that stall or crash the parser -------------------------------


def test_nested_brackets_and_operator_chains_do_not_kill_or_stall_the_server(
    tmp_path: Path,
) -> None:
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        brackets = client.open(tmp_path / "deep.py", "x = " + "[" * 2000 + "]" * 2000 + "\n")
        chain = client.open(tmp_path / "chain.py", "x = " + " + ".join(["a"] * 10_000) + "\n")
        other = client.open(tmp_path / "ok.py", FINDING)
        assert codes(client.diagnostics(brackets, timeout=30)) == ["TL000"]
        assert codes(client.diagnostics(chain, timeout=30)) == ["TL000"]
        assert codes(client.diagnostics(other, timeout=30)) == ["TL201"]


def test_document_over_the_size_limit_is_logged_not_linted(tmp_path: Path) -> None:
    """A 5 MB document took 50 s and ~950 MB."""
    with server(tmp_path) as client:
        client.initialize(tmp_path)
        big = client.open(tmp_path / "big.py", FINDING + "x = 1\n" * 400_000)
        assert client.diagnostics(big, timeout=30) == []
        logged = client.wait_for(
            lambda m: (
                m.get("method") == "window/logMessage"
                and "big.py is not linted" in m["params"]["message"]
            ),
            timeout=10,
        )
        assert "over the editor's limit of 1 MiB" in logged["params"]["message"]
        other = client.open(tmp_path / "ok.py", FINDING)
        assert codes(client.diagnostics(other, timeout=30)) == ["TL201"]


def test_debounce_infinity_is_an_invalid_setting_not_an_internal_error(tmp_path: Path) -> None:
    with server(tmp_path) as client:
        # Python's json writes float("inf") as Infinity, as a JavaScript client may.
        client.initialize(tmp_path, {"debounceMs": float("inf")})
        shown = client.wait_for(lambda m: m.get("method") == "window/showMessage", timeout=10)
        assert "`debounceMs` must be a number of milliseconds" in shown["params"]["message"]
        uri = client.open(tmp_path / "a.py", FINDING)
        assert codes(client.diagnostics(uri)) == ["TL201"]
        assert not any("internal error" in json.dumps(m) for m in client.seen)
