"""The child side of ``torchlint verify``: run a training script, unchanged, and watch it train.

Run as ``python -m torchlint.runtime.harness --script S --steps N --seed S --out result.json``
(one process per run; the parent kills it when it runs past its timeout). ``--source FILE`` runs
the code in FILE as if it were the script S: a fixed version sees the original's ``__file__``,
``sys.argv[0]`` and ``sys.path[0]``, while its tracebacks show its own lines. The harness

- seeds ``random``, NumPy (when installed) and torch, and turns on deterministic algorithms;
- observes training through PyTorch's own hooks: a global optimizer step post-hook counts optimizer
  steps, a wrapper around ``Tensor.backward`` / ``torch.autograd.backward`` records the loss of each
  backward call (detached, so recording is no host-device synchronisation; the values are read after
  the run), and ``GradScaler.scale`` is wrapped so that a scaled loss is recorded unscaled;
- stops the script after N optimizer steps by raising :class:`StopTraining` from the step hook
  (a ``BaseException``, so the script's own ``except Exception`` blocks do not swallow it);
- on CUDA, times the steps of one window and counts host-device synchronisations in another with
  ``torch.cuda.set_sync_debug_mode("warn")`` (the counting costs time, so the windows never overlap);
- writes ``{"status": "running"}`` to ``--out`` just before the script starts (so a run that dies
  without a word, killed by a signal or through ``os._exit``, is told apart from a harness that
  never started), then what it saw as JSON, and exits.

This is the only module of torchlint that imports torch, and only when run.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import json
import linecache
import math
import os
import random
import re
import sys
import time
import traceback
import types
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

SYNC_WARNING = "called a synchronizing CUDA operation"
# Imported by the fork server before it forks: the first optimizer a script builds imports
# torch._dynamo, which alone takes seconds.
PRELOAD = ("torch._dynamo", "torch.optim", "torch.utils.data", "torch.nn.functional")
USER_FRAMES = 3  # a crash shows the script's last frames, the innermost frame and the message
MESSAGE_LINES = 6

# Messages that mean "this script needs a CUDA device" when none is visible.
_NEEDS_CUDA = re.compile(
    r"Torch not compiled with CUDA enabled|No CUDA GPUs are available|Found no NVIDIA driver"
    r"|CUDA driver initialization failed|no CUDA-capable device|torch\.cuda\.is_available\(\) is False"
    r"|Attempting to deserialize object on a CUDA device|CUDA error|cuda",
    re.IGNORECASE,
)


def _folder(module: types.ModuleType) -> str:
    """The folder of ``module``'s file, with a trailing separator (for prefix tests)."""
    return os.path.dirname(os.path.abspath(module.__file__ or "")) + os.sep


class StopTraining(BaseException):
    """Raised from the optimizer step hook once the requested number of steps has been made."""


class Watcher:
    """Everything the hooks record during one run."""

    def __init__(self, torch: Any, steps: int, device: str, script: str) -> None:
        self.torch = torch
        self.limit = steps
        self.cuda = device == "cuda"
        self.script = os.path.abspath(script)
        self.steps = 0
        self.backwards = 0
        self.losses: list[Any] = []  # detached 0-dim tensors (or None for non-scalar backward)
        self.loss_stream: list[int] = []  # which stepping call site each backward fed (-1: none)
        self.pending: list[int] = []  # backward calls not yet followed by a step
        self.sites: dict[str, int] = {}  # call site of a step -> stream index
        self.depth = 0  # > 0 while inside a backward call we already recorded
        # Windows (in optimizer steps): [warmup, mid) is timed, [mid, limit) counts syncs.
        self.warmup = max(1, steps // 10)
        self.mid = self.warmup + max(1, (steps - self.warmup) // 2)
        self.t_start: float | None = None
        self.t_end: float | None = None
        self.counting_syncs = False
        self.sync_count = 0
        self.sync_sites: Counter[str] = Counter()
        self.sync_steps = 0
        self.sync_start_step = 0
        # torch's own files, the standard library's (warnings) and this file are not sites.
        self.ignored_dirs = tuple(_folder(m) for m in (torch, warnings)) + (
            os.path.abspath(__file__),
        )

    # -- where the user's code is -----------------------------------------------------------------

    def user_site(self, frame: Any) -> str:
        """``file:line`` of the innermost frame that is not torch, the harness or the stdlib."""
        while frame is not None:
            filename = frame.f_code.co_filename
            if not filename.startswith(self.ignored_dirs) and not filename.startswith("<"):
                return f"{os.path.basename(filename)}:{frame.f_lineno}"
            frame = frame.f_back
        return "?"

    # -- hooks --------------------------------------------------------------------------------------

    def on_backward(self, tensor: Any) -> None:
        self.backwards += 1
        torch = self.torch
        value = None
        if isinstance(tensor, (list, tuple)) and tensor:
            tensor = tensor[0]
        if isinstance(tensor, torch.Tensor) and tensor.numel() == 1:
            unscaled = getattr(tensor, "_torchlint_unscaled", None)
            source = unscaled if unscaled is not None else tensor
            value = source.detach().reshape(())  # a view: no kernel, no synchronisation
        self.losses.append(value)
        self.loss_stream.append(-1)
        self.pending.append(len(self.losses) - 1)

    def on_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.steps += 1
        site = self.user_site(sys._getframe(1))
        stream = self.sites.setdefault(site, len(self.sites))
        for index in self.pending:
            self.loss_stream[index] = stream
        self.pending.clear()
        if self.steps == self.warmup:
            self.t_start = self.clock()
        if self.steps == self.mid:
            self.t_end = self.clock()
            self.start_sync_count()
        if self.steps >= self.limit:
            self.stop_sync_count()
            raise StopTraining

    def on_sync(self, frame: Any) -> None:
        self.sync_count += 1
        self.sync_sites[self.user_site(frame)] += 1

    # -- timing and synchronisation counting ------------------------------------------------------

    def clock(self) -> float:
        if self.cuda:
            self.quiet_sync()
        return time.perf_counter()

    def quiet_sync(self) -> None:
        """Wait for the device without it counting as one of the script's synchronisations."""
        torch = self.torch
        mode = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode(0)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode(mode)

    def start_sync_count(self) -> None:
        if not self.cuda or self.steps >= self.limit:
            return
        self.counting_syncs = True
        self.sync_start_step = self.steps
        self.torch.cuda.set_sync_debug_mode("warn")

    def stop_sync_count(self) -> None:
        if self.counting_syncs:
            self.torch.cuda.set_sync_debug_mode(0)
            self.counting_syncs = False
            self.sync_steps = self.steps - self.sync_start_step

    # -- the record -------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        self.stop_sync_count()
        losses: list[float | str | None] = []
        for value in self.losses:
            if value is None:
                losses.append(None)
                continue
            number = float(value)
            losses.append(number if math.isfinite(number) else str(number))
        timing = None
        if self.t_start is not None and self.t_end is not None and self.t_end > self.t_start:
            window = self.mid - self.warmup
            timing = {
                "warmup_steps": self.warmup,
                "window_steps": window,
                "seconds": self.t_end - self.t_start,
                "steps_per_s": window / (self.t_end - self.t_start),
            }
        syncs = None
        if self.sync_steps > 0:
            syncs = {
                "window_steps": self.sync_steps,
                "count": self.sync_count,
                "per_step": self.sync_count / self.sync_steps,
                "sites": dict(self.sync_sites.most_common(8)),
            }
        return {
            "steps": self.steps,
            "backwards": self.backwards,
            "losses": losses,
            "loss_streams": self.loss_stream,
            "stream_sites": list(self.sites),
            "timing": timing,
            "syncs": syncs,
            "memory": self.memory(),
        }

    def memory(self) -> dict[str, int] | None:
        """Peak device memory of the run (bytes the caching allocator handed out), on CUDA."""
        cuda = self.torch.cuda
        if not self.cuda or not cuda.is_initialized():
            return None
        return {"peak_allocated": int(cuda.max_memory_allocated())}


def _install(torch: Any, watcher: Watcher) -> None:
    from torch.optim.optimizer import register_optimizer_step_post_hook

    register_optimizer_step_post_hook(watcher.on_step)

    tensor_backward = torch.Tensor.backward
    autograd_backward = torch.autograd.backward

    def backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        if watcher.depth == 0:
            watcher.on_backward(self)
        watcher.depth += 1
        try:
            return tensor_backward(self, *args, **kwargs)
        finally:
            watcher.depth -= 1

    def functional_backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
        if watcher.depth == 0:
            watcher.on_backward(tensors)
        watcher.depth += 1
        try:
            return autograd_backward(tensors, *args, **kwargs)
        finally:
            watcher.depth -= 1

    backward.__doc__ = tensor_backward.__doc__
    functional_backward.__doc__ = autograd_backward.__doc__
    torch.Tensor.backward = backward
    torch.autograd.backward = functional_backward

    scaler_class = torch.amp.GradScaler
    scale = scaler_class.scale

    def tagged_scale(self: Any, outputs: Any) -> Any:
        scaled = scale(self, outputs)
        if scaled is not outputs and isinstance(outputs, torch.Tensor):
            try:
                scaled._torchlint_unscaled = outputs.detach()
            except Exception:  # pragma: no cover - a tensor subclass without attributes
                pass
        return scaled

    scaler_class.scale = tagged_scale

    if watcher.cuda:
        warnings.filterwarnings("always", message=re.escape(SYNC_WARNING))
        show = warnings.showwarning

        def showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            if watcher.counting_syncs and str(message).startswith(SYNC_WARNING):
                watcher.on_sync(sys._getframe(1))
                return
            if str(message).startswith(SYNC_WARNING):
                return  # the harness's own synchronisations
            show(message, category, *args, **kwargs)

        warnings.showwarning = showwarning


def _seed(torch: Any, seed: int) -> None:
    random.seed(seed)
    try:
        numpy = importlib.import_module("numpy")  # optional: seeded when the script has it
        numpy.random.seed(seed)
    except ImportError:
        pass
    torch.manual_seed(seed)  # seeds every CUDA device too
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        # What torch.use_deterministic_algorithms does, minus importing torch._inductor (seconds).
        torch._C._set_deterministic_algorithms(True, warn_only=True)
    except Exception:  # pragma: no cover - a torch without the private entry point
        torch.use_deterministic_algorithms(True, warn_only=True)


def _error(exc: BaseException, script: str, label: str | None = None) -> dict[str, Any]:
    """The exception as a user wants to see it: their own frames, the innermost one, the message.

    ``label``: what to call the script's frames (the file whose lines ran, when that is not the
    script itself: a fixed version run under the original's name).
    """
    script_path = os.path.abspath(script)
    # The script itself does not compile: none of its frames ran, the harness's are no news.
    uncompiled = (
        isinstance(exc, SyntaxError)
        and isinstance(exc.filename, str)
        and os.path.abspath(exc.filename) == script_path
    )
    if uncompiled and isinstance(exc, SyntaxError):
        # compile() takes the line it shows from the file the name points to, which for a fixed
        # version is the original: show the line of the code that was compiled instead.
        if exc.lineno:
            exc.text = linecache.getline(script_path, exc.lineno) or exc.text
        if label is not None:
            exc.filename = label
    summary = traceback.TracebackException.from_exception(exc)  # looks the lines up now
    frames = [] if uncompiled else list(summary.stack)
    for index, frame in enumerate(frames):
        if os.path.abspath(frame.filename) == script_path:
            frames = frames[index:]  # drop the harness frames above the script
            break
    if label is not None:
        for frame in frames:
            if os.path.abspath(frame.filename) == script_path:
                frame.filename = label
    library = tuple(
        _folder(m) for m in (traceback, *(sys.modules[n] for n in ("torch",) if n in sys.modules))
    )
    user = [i for i, f in enumerate(frames) if not os.path.abspath(f.filename).startswith(library)]
    keep = sorted(set(user[-USER_FRAMES:]) | ({len(frames) - 1} if frames else set()))
    lines = ["Traceback (most recent call last):"] if keep else []
    previous = -1
    for index in keep:
        if index != previous + 1 and previous >= 0 or (previous < 0 and index > 0):
            lines.append("  ...")
        lines.extend(
            "".join(traceback.StackSummary.from_list([frames[index]]).format())
            .rstrip("\n")
            .splitlines()
        )
        previous = index
    message_lines = "".join(summary.format_exception_only()).rstrip("\n").splitlines()
    lines.extend(message_lines[:MESSAGE_LINES])
    message = f"{type(exc).__name__}: {exc}".strip()
    error: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": message.splitlines()[0].strip() if message else type(exc).__name__,
        "traceback": lines,
    }
    if isinstance(exc, OSError) and isinstance(exc.filename, str):
        error["filename"] = exc.filename  # the file it could not open, as the script named it
    return error


_REPLACED_MAIN: list[Any] = []  # the harness's own ``__main__``, kept alive once replaced


def _cache_source(name: str, data: bytes) -> None:
    """Make ``linecache`` (tracebacks, warnings, ``inspect.getsource``) read ``data`` for ``name``."""
    import importlib.util

    text = importlib.util.decode_source(data)
    # mtime None: linecache.checkcache never replaces the entry with the file on disk.
    linecache.cache[name] = (len(text), None, text.splitlines(keepends=True), name)


def execute(script: str, source: str | None = None) -> None:
    """Run ``script`` as ``python script`` does: as ``__main__``, with ``__file__`` set.

    With ``source``, the code that runs is that file's, under the script's name: ``__file__``,
    ``co_filename`` and ``sys.argv[0]`` are the script's, and ``linecache`` holds the lines of
    ``source`` so that tracebacks and ``inspect`` see the code that actually runs.
    """
    with open(source or script, "rb") as handle:
        data = handle.read()
    _cache_source(script, data)
    code = compile(data, script, "exec", dont_inherit=True)
    module = types.ModuleType("__main__")
    module.__dict__.update(__file__=script, __builtins__=builtins)
    _REPLACED_MAIN.append(sys.modules.get("__main__"))
    sys.modules["__main__"] = module
    exec(code, module.__dict__)


# multiprocessing's spawn and forkserver children import the parent's ``__main__`` again, from the
# file ``__main__.__file__`` names. For a fixed version that is the original's name, so the children
# import this stub instead: it runs the fixed code under the original's name, as the parent does.
_SPAWN_STUB = """\
# Written by torchlint verify: the fixed version of {script!r}, run under that name.
def _torchlint_code(source, name):
    import importlib.util
    import linecache

    with open(source, "rb") as handle:
        data = handle.read()
    text = importlib.util.decode_source(data)
    linecache.cache[name] = (len(text), None, text.splitlines(keepends=True), name)
    return compile(data, name, "exec", dont_inherit=True)


__file__ = {script!r}
exec(_torchlint_code({source!r}, __file__))
del _torchlint_code
"""


def _spawn_children_run(script: str, source: str, folder: str) -> None:
    """Make multiprocessing's spawned children import ``source`` as ``script`` (see the stub)."""
    try:
        import multiprocessing.spawn as spawn
    except ImportError:  # pragma: no cover - a Python without multiprocessing
        return
    stub = os.path.join(folder, "torchlint_fixed_main.py")
    with open(stub, "w", encoding="utf-8") as handle:
        handle.write(_SPAWN_STUB.format(script=script, source=os.path.abspath(source)))
    original = spawn.get_preparation_data
    main_path = os.path.normpath(script)

    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if data.get("init_main_from_path") == main_path:
            data["init_main_from_path"] = stub
        return data

    spawn.get_preparation_data = get_preparation_data


def run(
    script: str,
    steps: int,
    seed: int,
    device: str,
    argv: list[str],
    threads: int | None = None,
    search_path: str | None = None,
    source: str | None = None,
    label: str | None = None,
    scratch: str | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One run of ``script`` (or of the code in ``source``, under the script's name).

    ``label``: what tracebacks call the code that ran (default: ``source``); ``scratch``: a folder
    for the harness's own files; ``on_start``: called with the record just before the script runs.
    """
    script = os.path.abspath(script)  # what ``python script`` gives ``__file__`` and ``argv[0]``
    if source is not None and os.path.abspath(source) == script:
        source = None
    if source is not None and label is None:
        label = os.path.abspath(source)
    started = time.perf_counter()
    record: dict[str, Any] = {"device": device, "limit": steps, "python": sys.version.split()[0]}
    try:
        import torch
    except Exception as exc:
        record.update(status="harness-error", error=_error(exc, script))
        record["error"]["message"] = f"cannot import torch: {record['error']['message']}"
        return record
    record["torch"] = torch.__version__
    record["import_s"] = time.perf_counter() - started
    cuda = torch.cuda.is_available()
    record["cuda_available"] = cuda
    if device == "cuda":
        if not cuda:
            record["status"] = "no-cuda"
            return record
        record["gpu"] = torch.cuda.get_device_name(0)
    if threads is not None:
        torch.set_num_threads(threads)
    _seed(torch, seed)
    watcher = Watcher(torch, steps, device, script)
    _install(torch, watcher)
    if source is not None:
        _spawn_children_run(script, source, scratch or os.path.dirname(os.path.abspath(source)))

    sys.argv = [script, *argv]
    sys.path[0] = search_path or os.path.dirname(script)
    if on_start is not None:
        on_start({**record, "status": "running"})
    status = "finished"
    error: dict[str, Any] | None = None
    began = time.perf_counter()
    try:
        execute(script, source)
    except StopTraining:
        status = "completed"
    except SystemExit as exc:
        if exc.code not in (None, 0):
            status, error = (
                "crashed",
                {"type": "SystemExit", "message": f"SystemExit: {exc.code}", "traceback": []},
            )
    except BaseException as exc:  # the script's own failure is the finding
        status, error = "crashed", _error(exc, script, label)
    record["train_s"] = time.perf_counter() - began
    if cuda and device == "cuda":
        try:
            torch.cuda.set_sync_debug_mode(0)
        except Exception:
            pass
    try:
        record.update(watcher.report())
    except BaseException as exc:  # reading the losses back failed: the device is broken
        status, error = "crashed", _error(exc, script, label)
        record.update(steps=watcher.steps, backwards=watcher.backwards, losses=[])
    if status == "finished":
        if watcher.backwards == 0:
            status = "no-backward"
        elif watcher.steps == 0:
            status = "no-step"
    if error is not None:
        error["needs_cuda"] = not cuda and bool(_NEEDS_CUDA.search(error["message"]))
        if watcher.backwards == 0 and watcher.steps == 0:
            error["phase"] = "before training"
        elif watcher.steps == 0:
            error["phase"] = "before the first optimizer step"
        else:
            error["phase"] = f"after {watcher.steps} optimizer steps"
    record["status"] = status
    record["error"] = error
    return record


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m torchlint.runtime.harness")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="import torch once, then fork one run per job read from stdin",
    )
    parser.add_argument("--script")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--path", default=None, help="sys.path[0] for the script")
    parser.add_argument(
        "--source", default=None, help="run the code in this file under the name --script"
    )
    parser.add_argument("--label", default=None, help="what tracebacks call --source")
    parser.add_argument("script_args", nargs=argparse.REMAINDER)
    return parser


def main(args: list[str] | None = None) -> None:
    parser = _parser()
    options = parser.parse_args(args)
    if options.serve:
        serve()
        return
    if not options.script or options.steps is None or not options.out:
        parser.error("--script, --steps and --out are required")
    script_args = options.script_args
    if script_args[:1] == ["--"]:
        script_args = script_args[1:]

    def write(record: dict[str, Any]) -> None:
        with open(options.out, "w", encoding="utf-8") as handle:
            json.dump(record, handle)

    _end_with_parent(os.getppid())
    record = run(
        options.script,
        options.steps,
        options.seed,
        options.device,
        script_args,
        threads=options.threads,
        search_path=options.path,
        source=options.source,
        label=options.label,
        scratch=os.path.dirname(os.path.abspath(options.out)),
        on_start=write,
    )
    write(record)
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave at once: threads or workers the script left behind must not keep the run alive.
    os._exit(0)


def _end_with_parent(parent: int) -> None:
    """Kill this run's process group (the script and whatever it started) once ``parent`` (torchlint,
    or the fork server) is gone: killed with SIGKILL, it could neither stop the run nor enforce
    its timeout."""
    import signal
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="torchlint-parent-watch", daemon=True).start()


# -- fork server: one import of torch for many runs ------------------------------------------------


def serve() -> None:
    """Read jobs (JSON lines) on stdin; fork a run for each; report starts and exits on stdout.

    A job: {"id", "argv", "cwd", "env", "log"}. Replies: {"ready"}, {"started": id, "pid"},
    {"refused": id, "why"}, {"exit": pid, "code"}. Each run is its own session (process group), so
    the parent can kill it and everything it started. Forking is refused once CUDA is initialised
    here (it never is: this process only imports torch).
    """
    import select

    def send(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    try:
        import torch
    except Exception as exc:
        send({"error": f"cannot import torch: {exc}"})
        return
    for name in PRELOAD:  # what nearly every training script pays for on first use
        try:
            importlib.import_module(name)
        except Exception:
            pass
    send({"ready": True, "torch": torch.__version__})
    stdin = sys.stdin.fileno()
    children: set[int] = set()
    pending = b""
    while True:
        readable, _, _ = select.select([stdin], [], [], 0.05)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
        if not readable:
            continue
        chunk = os.read(stdin, 1 << 16)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            job = json.loads(line)
            cuda_initialized: Callable[[], bool] = torch.cuda.is_initialized
            if cuda_initialized():
                send({"refused": job["id"], "why": "CUDA is initialised in the fork server"})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _forked_run(job)
            children.add(pid)
            send({"started": job["id"], "pid": pid})


def _forked_run(job: dict[str, Any]) -> None:
    try:
        os.setsid()
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        main(job["argv"])
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(70)


if __name__ == "__main__":
    main()
