"""Start one run of a training script under the harness, in its own process, and read what it saw.

Every run gets a fresh working directory (so a checkpoint one run writes is never read by the
other), the seeds and determinism settings of the harness, a fixed number of CPU threads, and a
timeout after which its whole process group is killed.
"""

from __future__ import annotations

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


@dataclass
class RunOutcome:
    """What one run did. ``status`` is one of: completed (stopped after the requested steps),
    finished (ended by itself, having stepped), crashed, no-backward, no-step, timeout, no-cuda,
    harness-error."""

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
    gpu: str | None = None
    torch_version: str | None = None
    output_tail: list[str] = field(default_factory=list)

    @property
    def trained(self) -> bool:
        return self.status in TRAINED and self.steps > 0

    @property
    def needs_cuda(self) -> bool:
        return bool(self.error and self.error.get("needs_cuda"))

    def stream(self, index: int) -> list[float | None]:
        return [v for v, s in zip(self.losses, self.loss_streams) if s == index]

    def describe(self) -> str:
        """One line a user understands: what happened in this run."""
        if self.status == "completed":
            return f"ran {self.steps} optimizer steps"
        if self.status == "finished":
            return f"ended by itself after {self.steps} optimizer steps"
        if self.status == "no-backward":
            return "never called backward(): nothing to verify (is this a training script?)"
        if self.status == "no-step":
            return (f"called backward() {self.backwards} times but never stepped a torch.optim "
                    "optimizer: verify observes training through optimizer steps")
        if self.status == "no-cuda":
            return "no CUDA device is available"
        if self.status == "timeout":
            return f"did not finish within {self.seconds:.0f} s and was stopped (timeout)"
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
            "gpu": self.gpu,
            "torch": self.torch_version,
            "output_tail": self.output_tail,
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


def _tail(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-TAIL_LINES:]


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()


def start_run(spec: RunSpec, workdir: Path) -> tuple[subprocess.Popen[bytes], Path, Path, float]:
    """Start the harness for ``spec`` in ``workdir`` (created); see :func:`finish_run`."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "torchlint-result.json"
    log = workdir / "output.log"
    command = [
        spec.python, "-m", "torchlint.runtime.harness",
        "--script", str(spec.script.resolve()),
        "--steps", str(spec.steps),
        "--seed", str(spec.seed),
        "--device", spec.device,
        "--out", str(out),
    ]
    if spec.cpu_threads is not None:
        command += ["--threads", str(spec.cpu_threads)]
    if spec.search_path is not None:
        command += ["--path", str(spec.search_path.resolve())]
    if spec.args:
        command += ["--", *spec.args]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=child_environment(spec),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: a timeout kills workers too
        )
    return process, out, log, time.monotonic()


def finish_run(
    spec: RunSpec, process: subprocess.Popen[bytes], out: Path, log: Path, started: float
) -> RunOutcome:
    remaining = max(0.0, spec.timeout - (time.monotonic() - started))
    try:
        process.wait(timeout=remaining)
    except subprocess.TimeoutExpired:
        _kill(process)
        return RunOutcome(status="timeout", device=spec.device,
                          seconds=time.monotonic() - started, output_tail=_tail(log))
    seconds = time.monotonic() - started
    try:
        record = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = _tail(log)
        message = tail[-1] if tail else f"the harness exited with status {process.returncode}"
        return RunOutcome(status="harness-error", device=spec.device, seconds=seconds,
                          error={"type": "HarnessError", "message": message, "traceback": tail},
                          output_tail=tail)
    return outcome_from_record(record, spec.device, seconds, _tail(log))


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
        gpu=record.get("gpu"),
        torch_version=record.get("torch"),
        output_tail=tail,
    )


def run_script(spec: RunSpec, workdir: Path) -> RunOutcome:
    return finish_run(spec, *start_run(spec, workdir))
