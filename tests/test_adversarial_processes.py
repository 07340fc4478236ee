"""Issue 18, part B: processes torchlint starts die with it (workers, verify's script), and
bad input cannot hang or crash the parser. Every test kills what it started, whatever happens."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# A plug-in rule that hangs the process linting a file holding HANG_HERE, after saying so in
# the file $TL_HANG_FLAG: a worker busy on a slow file when its parent is killed.
HANG_PLUGIN = """
import os, time
import libcst as cst
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

class Hangs(Rule):
    code = "XPL101"
    name = "example-hangs"
    summary = "hangs on purpose"
    category = Category.CORRECTNESS
    severity = Severity.INFO
    precision = Precision.HIGH
    needles = ("HANG_HERE",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "HANG_HERE":
            with open(os.environ["TL_HANG_FLAG"], "a") as flag:
                flag.write(f"{os.getpid()}\\n")
            time.sleep(600)
"""


def hang_plugin(root: Path) -> Path:
    """A plug-in package on a path of its own, registered through an entry point."""
    site = root / "hang_site"
    (site / "tl_hang_plugin").mkdir(parents=True)
    (site / "tl_hang_plugin" / "__init__.py").write_text(HANG_PLUGIN)
    info = site / "tl_hang_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tl-hang-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[torchlint.rules]\nhangs = tl_hang_plugin:Hangs\n")
    return site


@contextlib.contextmanager
def session(command: list[str], **kwargs: object) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in a session of its own; on the way out, kill everything left in it
    (a test must never leave a process behind, even when it fails)."""
    proc = subprocess.Popen(command, start_new_session=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                stream.close()


def alive_in_group(pgid: int) -> list[int]:
    """Processes (not zombies) of process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def read_to_eof(stream: object, timeout: float) -> bool:
    """Whether ``stream`` reaches end of file within ``timeout`` s (every writer closed it)."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready and not os.read(fd, 65536):
            return True
    return False


# -- item 9: workers die with their parent -------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_die_with_a_killed_parent_and_release_stdout(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """`torchlint . | cat` ends when torchlint is killed: no worker (busy on a file, or idle
    waiting for work) survives holding the pipe."""
    (tmp_path / "d").mkdir()
    for i in range(12):
        (tmp_path / "d" / f"f{i:02}.py").write_text("import torch\nx = torch.load(p)\n")
    (tmp_path / "d" / "f00_hang.py").write_text("HANG_HERE = 1\n")
    flag = tmp_path / "hanging"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hang_plugin(tmp_path)), *sys.path]),
        "TL_HANG_FLAG": str(flag),
    }
    command = [sys.executable, "-m", "torchlint", "--no-cache", "-j", "2", "d"]
    with session(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE) as proc:
        wait_for(lambda: flag.exists() and flag.read_text().strip(), 60, "the hanging worker")
        time.sleep(1)  # the other worker finishes its files and waits for more
        assert len(alive_in_group(proc.pid)) >= 3  # torchlint and its two workers
        os.kill(proc.pid, sig)
        assert read_to_eof(proc.stdout, 15), "a worker still holds torchlint's stdout"
        wait_for(lambda: not alive_in_group(proc.pid), 15, "every worker to exit")
