"""Start one run of a training script under the harness, in its own process, and read what it saw.

Every run gets a fresh working directory (so a checkpoint one run writes is never read by the
other) unless the caller names one, the seeds and determinism settings of the harness, a fixed
number of CPU threads, and a timeout after which its whole process group is killed. A run that
dies without reporting (a signal such as the OOM killer's SIGKILL, or ``os._exit``) is described by
its exit status.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torchlint

# A run that trained: it made optimizer steps (and stopped at the limit or finished by itself).
TRAINED = ("completed", "finished")
TAIL_LINES = 12


@dataclass
class RunSpec:
    script: Path  # the file to execute
    device: str  # "cpu" or "cuda"
    steps: int
    seed: int = 0
    timeout: float = 300.0
    python: str = sys.executable
    cpu_threads: int | None = 1
    args: Sequence[str] = ()
    search_path: Path | None = None  # sys.path[0] for the script (default: its own folder)
    source: Path | None = None  # run this file's code under the name ``script`` (a fixed version)
    label: str | None = None  # what tracebacks call ``source`` (default: its path)
    cwd: Path | None = None  # the working directory (default: a fresh folder for this run)


@dataclass
class RunOutcome:
    """What one run did. ``status`` is one of: completed (stopped after the requested steps),
    finished (ended by itself, having stepped), crashed, no-backward, no-step, timeout, no-cuda,
    killed (by a signal, before it could report), exited (through ``os._exit`` or an interpreter
    crash, before it could report), harness-error (the harness itself could not run)."""

    status: str
    device: str
    steps: int = 0
    backwards: int = 0
    losses: list[float | None] = field(default_factory=list)
    loss_streams: list[int] = field(default_factory=list)
    stream_sites: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    seconds: float = 0.0
    steps_per_s: float | None = None
    syncs_per_step: float | None = None
    sync_sites: dict[str, int] = field(default_factory=dict)
    peak_memory: int | None = None  # bytes, on CUDA (torch.cuda.max_memory_allocated)
    gpu: str | None = None
    torch_version: str | None = None
    output_tail: list[str] = field(default_factory=list)
    exit_code: int | None = None  # of the run's process: negative for a signal (None: unknown)

    @property
    def trained(self) -> bool:
        return self.status in TRAINED and self.steps > 0

    @property
    def needs_cuda(self) -> bool:
        return bool(self.error and self.error.get("needs_cuda"))

    def stream(self, index: int) -> list[float | None]:
        return [v for v, s in zip(self.losses, self.loss_streams, strict=False) if s == index]

    def describe(self) -> str:
        """One line a user understands: what happened in this run."""
        if self.status == "completed":
            return f"ran {self.steps} optimizer steps"
        if self.status == "finished":
            return f"ended by itself after {self.steps} optimizer steps"
        if self.status == "no-backward":
            return "never called backward(): nothing to verify (is this a training script?)"
        if self.status == "no-step":
            return (
                f"called backward() {self.backwards} times but never stepped a torch.optim "
                "optimizer: verify observes training through optimizer steps"
            )
        if self.status == "no-cuda":
            return "no CUDA device is available"
        if self.status == "timeout":
            return f"did not finish within {self.seconds:.0f} s and was stopped (timeout)"
        if self.status in ("killed", "exited"):
            message = self.error["message"] if self.error else self.status
            verb = "was " if self.status == "killed" else ""
            return f"{verb}{message} before it could report its losses"
        if self.status == "harness-error":
            message = self.error["message"] if self.error else "unknown error"
            return f"could not be started: {message}"
        if self.status == "crashed" and self.error:
            if self.needs_cuda:
                return f"needs CUDA, which this run does not have: {self.error['message']}"
            phase = self.error.get("phase", "")
            return f"crashed {phase}: {self.error['message']}".replace("  ", " ")
        return self.status

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "summary": self.describe(),
            "steps": self.steps,
            "backward_calls": self.backwards,
            "losses": [_json_number(v) for v in self.losses],
            "loss_streams": self.loss_streams,
            "stream_sites": self.stream_sites,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "steps_per_s": self.steps_per_s,
            "syncs_per_step": self.syncs_per_step,
            "sync_sites": self.sync_sites,
            "peak_memory": self.peak_memory,
            "gpu": self.gpu,
            "torch": self.torch_version,
            "output_tail": self.output_tail,
            "exit_code": self.exit_code,
        }


def _json_number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return str(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)  # "nan" / "inf" come back from the harness as strings


def _package_root() -> str:
    return str(Path(torchlint.__file__).resolve().parent.parent)


def child_environment(spec: RunSpec) -> dict[str, str]:
    env = dict(os.environ)
    root = _package_root()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONHASHSEED"] = str(spec.seed)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    env.setdefault("MPLBACKEND", "Agg")
    if spec.cpu_threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(spec.cpu_threads)
    if spec.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # the run sees no GPU at all
    return env


TAIL_BYTES = 64 * 1024


def _tail(path: Path) -> list[str]:
    """The log's last lines, read from its end: a script may write gigabytes."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - TAIL_BYTES, 0))
            data = handle.read(TAIL_BYTES)
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").rstrip("\n").splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first is cut
    return lines[-TAIL_LINES:]


def exit_status_text(code: int | None) -> str:
    """How a process ended, in words: "killed by SIGKILL (out of memory?)", "exited with code 3"."""
    if code is None:
        return "ended"
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    text = f"killed by {name}"
    if -code == getattr(signal, "SIGKILL", None):
        text += " (out of memory?)"  # the kernel's OOM killer sends SIGKILL
    elif name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"):
        text += " (a crash in native code)"
    return text


def _harness_argv(spec: RunSpec, out: Path) -> list[str]:
    argv = [
        "--script",
        os.path.abspath(spec.script),  # as `python script` sets __file__ (links not resolved)
        "--steps",
        str(spec.steps),
        "--seed",
        str(spec.seed),
        "--device",
        spec.device,
        "--out",
        str(out),
    ]
    if spec.cpu_threads is not None:
        argv += ["--threads", str(spec.cpu_threads)]
    if spec.search_path is not None:
        argv += ["--path", str(spec.search_path.resolve())]
    if spec.source is not None:
        argv += ["--source", os.path.abspath(spec.source)]
        if spec.label is not None:
            argv += ["--label", spec.label]
    if spec.args:
        argv += ["--", *spec.args]
    return argv


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ForkServer:
    """A harness process that imported torch once and forks one CPU run per job (POSIX only).

    Importing torch (and torch._dynamo, which the first optimizer imports) takes seconds; a
    verification makes two to four runs, a test suite dozens. Every forked run still gets its own
    working directory, environment, seeds and session.
    """

    def __init__(self, python: str, seed: int, cpu_threads: int | None, timeout: float) -> None:
        spec = RunSpec(
            script=Path("-"),
            device="cpu",
            steps=0,
            seed=seed,
            python=python,
            cpu_threads=cpu_threads,
        )
        env = child_environment(spec)
        env.pop("CUDA_VISIBLE_DEVICES", None)  # each run sets its own
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        env["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # is_available() here must not initialise CUDA
        self.process = subprocess.Popen(
            [python, "-m", "torchlint.runtime.harness", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self.buffer = b""
        self.exits: dict[int, int] = {}
        self.jobs = 0
        ready = self._read(timeout)
        if not ready or not ready.get("ready"):
            self.close()
            raise OSError("the fork server did not start")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when none came in ``timeout`` seconds or the server died."""
        import select

        deadline = time.monotonic() + timeout
        stdout = self.process.stdout
        assert stdout is not None
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([stdout.fileno()], [], [], left)
            if not readable:
                return None
            chunk = os.read(stdout.fileno(), 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        if "exit" in message:
            self.exits[message["exit"]] = message["code"]
        return message

    def run(self, spec: RunSpec, cwd: Path, out: Path, log: Path) -> tuple[str, float, int | None]:
        """Run one job; ("done" | "timeout", seconds, exit code). Raises OSError when the server
        fails."""
        self.jobs += 1
        job = {
            "id": self.jobs,
            "argv": _harness_argv(spec, out),
            "cwd": str(cwd),
            "env": child_environment(spec),
            "log": str(log),
        }
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            self.process.stdin.flush()
        except OSError as exc:
            raise OSError("the fork server is gone") from exc
        pid = None
        while pid is None:
            message = self._read(30.0)
            if message is None:
                raise OSError("the fork server stopped answering")
            if message.get("refused") == job["id"]:
                raise OSError(message.get("why", "refused"))
            if message.get("started") == job["id"]:
                pid = message["pid"]
        started = time.monotonic()
        try:
            while pid not in self.exits:
                left = spec.timeout - (time.monotonic() - started)
                if left <= 0:
                    _kill_group(pid)
                    while pid not in self.exits and self._read(10.0) is not None:
                        pass
                    return "timeout", time.monotonic() - started, self.exits.pop(pid, None)
                if self._read(left) is None and not self.alive:
                    raise OSError("the fork server died")
        except BaseException:  # Ctrl-C included: leave no run behind
            _kill_group(pid)
            raise
        _kill_group(pid)  # what the script started and left running dies with its run
        return "done", time.monotonic() - started, self.exits.pop(pid)

    def close(self) -> None:
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(self.process.pid)
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


_SERVERS: dict[tuple[str, int, int | None], ForkServer] = {}


def _server_for(spec: RunSpec) -> ForkServer | None:
    """The shared fork server for this interpreter, seed and thread count (None: spawn instead).

    CUDA runs are always spawned: a process must not fork once the CUDA driver is initialised,
    and a fresh process is what a timing should see anyway.
    """
    if spec.device != "cpu" or os.name != "posix" or os.environ.get("TORCHLINT_VERIFY_NO_FORK"):
        return None
    key = (spec.python, spec.seed, spec.cpu_threads)
    server = _SERVERS.get(key)
    if server is not None and server.alive:
        return server
    try:
        server = ForkServer(spec.python, spec.seed, spec.cpu_threads, max(spec.timeout, 60.0))
    except OSError:
        return None
    if not _SERVERS:
        atexit.register(shutdown_servers)
    _SERVERS[key] = server
    return server


def shutdown_servers() -> None:
    while _SERVERS:
        _, server = _SERVERS.popitem()
        server.close()


def _spawn(spec: RunSpec, cwd: Path, out: Path, log: Path) -> tuple[str, float, int | None]:
    command = [spec.python, "-m", "torchlint.runtime.harness", *_harness_argv(spec, out)]
    started = time.monotonic()
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=child_environment(spec),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: a timeout kills its workers too
        )
    try:
        process.wait(timeout=spec.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.wait()
        return "timeout", time.monotonic() - started, process.returncode
    except BaseException:  # Ctrl-C included: leave no run behind
        _kill_group(process.pid)
        raise
    _kill_group(process.pid)  # what the script started and left running dies with its run
    return "done", time.monotonic() - started, process.returncode


def cuda_possible() -> bool:
    """False when this machine certainly has no usable NVIDIA GPU (so no process need ask torch)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        dev = Path("/dev")
        return any(dev.glob("nvidia[0-9]*")) or (dev / "dxg").exists()  # dxg: WSL's GPU
    return True


def run_script(spec: RunSpec, workdir: Path) -> RunOutcome:
    """Run ``spec`` and read back what the harness recorded.

    ``workdir`` (created) holds the run's own files (its result, its output) and, unless
    ``spec.cwd`` names another, is the run's working directory.
    """
    if spec.device == "cuda" and not cuda_possible():
        return RunOutcome(status="no-cuda", device="cuda")
    workdir.mkdir(parents=True, exist_ok=True)
    cwd = spec.cwd if spec.cwd is not None else workdir
    out = workdir / "torchlint-result.json"
    log = workdir / "output.log"
    server = _server_for(spec)
    how = None
    if server is not None:
        try:
            how, seconds, code = server.run(spec, cwd, out, log)
        except OSError:
            server.close()
            how = None
    if how is None:
        try:
            how, seconds, code = _spawn(spec, cwd, out, log)
        except OSError as exc:  # the interpreter is not there, or cannot be executed
            message = f"cannot run {spec.python}: {exc.strerror or exc}"
            return RunOutcome(
                status="harness-error",
                device=spec.device,
                error={"type": type(exc).__name__, "message": message, "traceback": []},
            )
    if how == "timeout":
        return RunOutcome(
            status="timeout", device=spec.device, seconds=seconds, output_tail=_tail(log)
        )
    tail = _tail(log)
    try:
        record = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if record is None or record.get("status") == "running":
        # No result: the process died. After "running" it died in the script (a signal, such as
        # the OOM killer's SIGKILL, or os._exit); before it, the harness itself did not start.
        ended = exit_status_text(code)
        signalled = code is not None and code < 0
        if record is None:
            status = "harness-error"
            message = f"the harness {'was ' if signalled else ''}{ended} without a result"
            if tail:
                message += f": {tail[-1]}"
        elif signalled:
            status, message = "killed", ended
        else:
            status, message = "exited", f"{ended} (os._exit() or an interpreter crash)"
        outcome = outcome_from_record(record or {}, spec.device, seconds, tail)
        outcome.status = status
        outcome.error = {"type": "Exit", "message": message, "traceback": []}
        outcome.exit_code = code
        return outcome
    outcome = outcome_from_record(record, spec.device, seconds, tail)
    outcome.exit_code = code
    return outcome


def outcome_from_record(
    record: dict[str, Any], device: str, seconds: float, tail: list[str]
) -> RunOutcome:
    timing = record.get("timing") or {}
    syncs = record.get("syncs") or {}
    return RunOutcome(
        status=record.get("status", "harness-error"),
        device=device,
        steps=int(record.get("steps", 0)),
        backwards=int(record.get("backwards", 0)),
        losses=[_number(v) for v in record.get("losses", [])],
        loss_streams=list(record.get("loss_streams", [])),
        stream_sites=list(record.get("stream_sites", [])),
        error=record.get("error"),
        seconds=seconds,
        steps_per_s=timing.get("steps_per_s"),
        syncs_per_step=syncs.get("per_step"),
        sync_sites=dict(syncs.get("sites", {})),
        peak_memory=(record.get("memory") or {}).get("peak_allocated"),
        gpu=record.get("gpu"),
        torch_version=record.get("torch"),
        output_tail=tail,
    )
