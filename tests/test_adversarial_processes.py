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


# -- items 10, 11, 20: verify leaves no process and no folder behind -----------------------------

# A script that records its pid, then waits (before training) for a file that never comes.
WAITS = """\
import os, time
import torch
with open({flag!r}, "w") as handle:
    handle.write(str(os.getpid()))
while True:
    time.sleep(0.1)
"""

# A script that trains and passes, after starting a process it never waits for.
LEAVES_A_PROCESS = """\
import subprocess, sys
import torch
import torch.nn as nn
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open({flag!r}, "a") as handle:
    handle.write(f"{{child.pid}}\\n")
torch.manual_seed(0)
model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(64, 4)
targets = inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
for _ in range(6):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
"""


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def kill_quietly(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def verify_env(tmp_path: Path) -> dict[str, str]:
    """TMPDIR of the test's own, so that a leaked torchlint-verify-* folder is seen."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    ("sig", "status", "message"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM, "torchlint: stopped by SIGTERM"),
        (signal.SIGHUP, 128 + signal.SIGHUP, "torchlint: stopped by SIGHUP"),
        (signal.SIGINT, 130, "torchlint: interrupted"),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_verify_stopped_by_a_signal_ends_the_script_and_removes_its_folder(
    tmp_path: Path, sig: signal.Signals, status: int, message: str
) -> None:
    flag = tmp_path / "script.pid"
    script = tmp_path / "waits.py"
    script.write_text(WAITS.format(flag=str(flag)))
    command = [sys.executable, "-m", "torchlint", "verify", "--device", "cpu", str(script)]
    script_pid: list[int] = []
    try:
        with session(
            command,
            cwd=tmp_path,
            env=verify_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            wait_for(lambda: flag.exists() and flag.read_text().strip(), 120, "the script")
            script_pid.append(int(flag.read_text()))
            os.kill(proc.pid, sig)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == status, err
            assert message in err.decode()
            wait_for(lambda: not pid_alive(script_pid[0]), 10, "the script to end")
            assert list((tmp_path / "tmp").glob("torchlint-verify-*")) == []
    finally:
        kill_quietly(script_pid)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_verify_kills_what_a_passing_script_left_running(tmp_path: Path) -> None:
    flag = tmp_path / "children"
    script = tmp_path / "leaves.py"
    script.write_text(LEAVES_A_PROCESS.format(flag=str(flag)))
    command = [sys.executable, "-m", "torchlint", "verify", "--device", "cpu", str(script)]
    children: list[int] = []
    try:
        proc = subprocess.run(
            command, cwd=tmp_path, env=verify_env(tmp_path), capture_output=True, timeout=180
        )
        children = [int(line) for line in flag.read_text().split()]
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert children
        wait_for(lambda: not any(pid_alive(pid) for pid in children), 10, "the script's child")
    finally:
        kill_quietly(children)


# -- items 18, 19: verify's log and its fixed copy ------------------------------------------------

TRAINS = """\
import torch
import torch.nn as nn
torch.manual_seed(0)
model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(64, 4)
targets = inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
for _ in range(6):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
"""

# torchlint's own peak memory (not its runs'), printed at its exit.
MEASURED = """\
import atexit, resource, sys
atexit.register(lambda: print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                              file=sys.stderr))
from torchlint.cli import run_cli
sys.argv = ["torchlint", *sys.argv[1:]]
run_cli()
"""


@pytest.mark.slow
def test_verify_memory_does_not_grow_with_the_scripts_output(tmp_path: Path) -> None:
    """Item 18: 1.2 GB of output made torchlint use 3.65 GB (it read the whole log)."""
    script = tmp_path / "chatty.py"
    line = "x" * 1023 + "\n"
    script.write_text(
        f"import sys\nfor _ in range(300):\n    sys.stdout.write({line!r} * 1024)\n" + TRAINS
    )
    proc = subprocess.run(
        [sys.executable, "-c", MEASURED, "verify", "--device", "cpu", str(script)],
        cwd=tmp_path,
        env=verify_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    maxrss_kib = int(proc.stderr.rsplit("maxrss", 1)[1])
    assert maxrss_kib < 200 * 1024, f"torchlint used {maxrss_kib // 1024} MiB for a 300 MiB log"


@pytest.mark.slow
def test_verify_writes_the_fixed_copy_in_the_originals_encoding(tmp_path: Path) -> None:
    """Item 19: a latin-1 script's fixed copy was written as UTF-8 under its latin-1 cookie,
    so the fixed run read other strings and failed: a false FAIL."""
    script = tmp_path / "latin.py"
    source = (
        "# -*- coding: latin-1 -*-\n"
        + TRAINS
        + "w = torch.zeros(1)\nw.require_grad = True\n"
        + "assert 'h\u00e9llo' == 'h\\xe9llo', 'the text changed'\n"
    )
    script.write_bytes(source.encode("latin-1"))
    proc = subprocess.run(
        [sys.executable, "-m", "torchlint", "verify", "--device", "cpu", str(script)],
        cwd=tmp_path,
        env=verify_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TL012" in proc.stdout  # a fix was applied: the fixed copy was written and run


# -- item 14: -j is bounded by the open-file limit -----------------------------------------------


def low_file_limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX limits, fork")
def test_jobs_beyond_the_open_file_limit_are_lowered_with_a_message(tmp_path: Path) -> None:
    """`-j 600` under a 1,024-file limit was an internal error with no results."""
    (tmp_path / "d").mkdir()
    for i in range(60):
        (tmp_path / "d" / f"f{i:02}.py").write_text("import torch\nx = torch.load(p)\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchlint",
            "--no-cache",
            "-j",
            "60",
            "--output-format",
            "concise",
            "d",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=low_file_limit,
    )
    assert proc.returncode == 1, proc.stderr
    assert (
        "torchlint: warning: -j 60 lowered to 10: the open-file limit (64) allows no more workers"
        in proc.stderr
    )
    assert "Found 60 problems" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_verify_killed_with_sigkill_leaves_no_script_running(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the run notices that torchlint (or the fork server) is gone
    and kills its own process group, or the script would run on with no timeout."""
    flag = tmp_path / "script.pid"
    script = tmp_path / "waits.py"
    script.write_text(WAITS.format(flag=str(flag)))
    command = [sys.executable, "-m", "torchlint", "verify", "--device", "cpu", str(script)]
    script_pid: list[int] = []
    try:
        with session(command, cwd=tmp_path, env=verify_env(tmp_path)) as proc:
            wait_for(lambda: flag.exists() and flag.read_text().strip(), 120, "the script")
            script_pid.append(int(flag.read_text()))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        wait_for(lambda: not pid_alive(script_pid[0]), 15, "the script to end")
    finally:
        kill_quietly(script_pid)
