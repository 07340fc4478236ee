"""``verify``: fix a training script, run the original and the fixed version, compare them."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torchlint.config import ConfigError, Overrides, SettingsResolver
from torchlint.diagnostics import Applicability
from torchlint.runner import RunMode, display_path, process_source
from torchlint.runtime.compare import CompareMode, DeviceVerdict, Outcome, judge
from torchlint.runtime.runs import RunOutcome, RunSpec, run_script
from torchlint.sources import SourceError, read_source

DEVICES = ("cpu", "cuda", "all")
COMPARE = ("auto", "match", "train")
EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


class VerifyError(Exception):
    """Bad input to :func:`verify` (a usage error: exit code 2)."""


@dataclass(frozen=True)
class AppliedFix:
    code: str
    name: str
    line: int
    title: str
    applicability: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "line": self.line,
            "title": self.title,
            "applicability": self.applicability,
        }


@dataclass
class VerifyResult:
    script: str
    fixed_path: str | None  # the fixed version given by the caller (None: torchlint fixed it)
    mode: str  # CompareMode
    steps: int
    seed: int
    devices: list[DeviceVerdict] = field(default_factory=list)
    fixes: list[AppliedFix] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    original_source: str = ""
    fixed_source: str = ""
    tolerance: float = 0.1
    match_rtol: float = 1e-3
    cwd: str | None = None  # the working directory both runs shared (None: a fresh one each)

    @property
    def exit_code(self) -> int:
        """1 when any device's verdict fails; else 2 when any is inconclusive (on that device the
        original could not be run, did not train, or there was no GPU for ``device="cuda"``);
        else 0: every verdict passes. A device skipped by ``device="all"`` (no GPU) is no
        verdict; with none at all the result is 2."""
        outcomes = [v.outcome for v in self.devices if v.outcome != Outcome.SKIPPED]
        if Outcome.FAIL in outcomes:
            return EXIT_FAIL
        if not outcomes or any(o != Outcome.PASS for o in outcomes):
            return EXIT_ERROR
        return EXIT_PASS

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASS

    def device(self, name: str) -> DeviceVerdict | None:
        return next((v for v in self.devices if v.device == name), None)

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.original_source.splitlines(keepends=True),
                self.fixed_source.splitlines(keepends=True),
                fromfile=self.script,
                tofile=self.fixed_path or f"{self.script} (fixed)",
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "script": self.script,
            "fixed": self.fixed_path,
            "mode": self.mode,
            "steps": self.steps,
            "seed": self.seed,
            "tolerance": self.tolerance,
            "match_rtol": self.match_rtol,
            "cwd": self.cwd,
            "fixes": [f.to_dict() for f in self.fixes],
            "warnings": self.warnings,
            "devices": [v.to_dict() for v in self.devices],
            "passed": self.passed,
            "exit_code": self.exit_code,
            "diff": self.diff(),
        }


def _read(path: Path) -> str:
    if not path.is_file():
        raise VerifyError(f"{path}: no such file")
    try:
        return read_source(path).text
    except SourceError as exc:
        raise VerifyError(f"{path}: {exc}") from exc


def _notebook_script(path: Path, text: str) -> str:
    """A notebook's code cells as the script that runs (IPython lines masked; see
    docs/notebooks.md)."""
    from torchlint.notebook_files import runnable_script
    from torchlint.notebook_json import NotebookError

    try:
        return runnable_script(text)
    except NotebookError as exc:
        raise VerifyError(f"{path}: {exc}") from exc


def _encode_like(text: str, original: Path) -> bytes:
    try:
        return text.encode(read_source(original).encoding)
    except (SourceError, LookupError, UnicodeEncodeError):
        return text.encode("utf-8")


def fix_script(
    path: Path, source: str, unsafe_fixes: bool | None, config: Path | None
) -> tuple[str, list[AppliedFix], list[str]]:
    """The fixed text of ``path`` under its configuration, the fixes applied, and warnings."""
    try:
        resolver = SettingsResolver(Overrides(unsafe_fixes=unsafe_fixes), config)
        settings = resolver.for_path(path.resolve())
    except ConfigError as exc:
        raise VerifyError(str(exc)) from exc
    result = process_source(
        source,
        display_path(path),
        settings,
        RunMode(fix=True, unsafe=unsafe_fixes),
        rules_path=path,
    )
    fixes = [
        AppliedFix(d.code, d.name, d.start.line, d.fix.title, d.fix.applicability.value)
        for d in result.applied
        if d.fix is not None
    ]
    warnings = list(result.warnings)
    warnings += [
        f"internal error in rule {e.rule}: {e.message.splitlines()[0]}"
        for e in result.internal_errors
    ]
    return (result.fixed if result.fixed is not None else source), fixes, warnings


def _interpreter(python: str | None) -> str:
    """The Python that runs the scripts, checked (a usage error when it cannot be run)."""
    if python is None:
        return sys.executable
    if os.sep in python or (os.altsep and os.altsep in python):
        path = Path(python)
        if not path.exists():
            raise VerifyError(f"the Python interpreter {python!r} does not exist")
        if path.is_dir() or not os.access(path, os.X_OK):
            raise VerifyError(f"the Python interpreter {python!r} is not an executable file")
        return os.path.abspath(python)  # the runs start in other folders (links kept: a venv's)
    found = shutil.which(python)
    if found is None:
        raise VerifyError(f"the Python interpreter {python!r} is not on PATH")
    return found


_NO_TORCH = 3
_PROBE = (
    "import importlib.util, sys; "
    f"sys.exit(0 if importlib.util.find_spec('torch') is not None else {_NO_TORCH})"
)


def _require_torch(interpreter: str, python: str | None) -> None:
    """A usage error, before any run, when the interpreter cannot import torch at all."""
    try:
        probe = subprocess.run(
            [interpreter, "-c", _PROBE], capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return  # the runs report what is wrong with the interpreter
    if probe.returncode != _NO_TORCH:
        return
    which = f"--python {python}" if python is not None else "this Python"
    raise VerifyError(
        f"torch is not installed for {interpreter} ({which}), which runs the training scripts: "
        f"install it with `{interpreter} -m pip install torch`, or pass --python an interpreter "
        "that has torch"
    )


_SNAPSHOT_LIMIT = 20_000  # files looked at in a --cwd folder (a dataset folder can be huge)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(mtime, size) of the files under ``folder``, up to a limit."""
    files: dict[str, tuple[int, int]] = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            files[os.path.relpath(path, folder)] = (stat.st_mtime_ns, stat.st_size)
            if len(files) >= _SNAPSHOT_LIMIT:
                return files
    return files


def _written(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(name for name, stamp in after.items() if before.get(name) != stamp)


def _cwd_warning(cwd: Path, run: str, written: list[str]) -> str:
    shown = ", ".join(written[:3]) + (f" and {len(written) - 3} more" if len(written) > 3 else "")
    return (
        f"--cwd {cwd}: the {run} wrote {shown} there, where the runs after it can read them "
        "(a checkpoint one run resumes from makes the runs depend on each other)"
    )


def _cwd_hint(verdict: DeviceVerdict, script: Path) -> None:
    """Point at --cwd when the original could not open a file named relative to its cwd."""
    run = verdict.original
    error = run.error if run is not None else None
    name = error.get("filename") if error else None
    if verdict.outcome != Outcome.INCONCLUSIVE or not name or os.path.isabs(name):
        return
    hint = "--cwd DIR runs both in DIR"
    for folder in (script.resolve().parent, Path.cwd()):
        if (folder / name).exists():
            shown = display_path(folder) or "."
            hint = f"{name} is in {shown}, and --cwd {shown} runs both there"
            break
    verdict.summary += f" (each run starts in a fresh, empty working directory: {hint})"


def verify(
    script: str | Path,
    fixed: str | Path | None = None,
    *,
    unsafe_fixes: bool | None = None,
    device: str = "all",
    steps: int = 50,
    seed: int = 0,
    timeout: float = 300.0,
    compare: str = "auto",
    tolerance: float = 0.1,
    match_rtol: float = 1e-3,
    cpu_threads: int | None = 1,
    python: str | None = None,
    script_args: Sequence[str] = (),
    config: str | Path | None = None,
    cwd: str | Path | None = None,
    repeats: int = 0,
    time_budget: float | None = None,
) -> VerifyResult:
    """Run ``script`` and its fixed version (torchlint's fixes, or the file ``fixed``) and judge.

    Each run is its own process with every seed set; it stops after ``steps`` optimizer steps or
    ``timeout`` seconds. The fixed version runs under the original's name: it sees the same
    ``__file__``, ``sys.argv[0]`` and ``sys.path[0]``. ``device``: "cpu" hides GPUs from the runs,
    "cuda" requires one, "all" runs on the CPU and, where there is one, on CUDA. ``compare``:
    "match" (trajectories must agree: the criterion for behaviour-preserving fixes), "train" (the
    fixed version must train at least as well, within ``tolerance``), or "auto" (match when every
    applied fix is safe, else train; train for a given ``fixed`` file). ``cwd``: the working
    directory of every run, one after the other (default: a fresh, empty folder for each run).
    ``repeats`` / ``time_budget``: after the verdict's runs, time further interleaved pairs of runs
    (up to ``repeats`` pairs, or until ``time_budget`` seconds per device are spent) and compare
    steps/s, syncs per step and peak memory with 95% intervals (see :mod:`.timing`).
    Raises :class:`VerifyError` for bad arguments.
    """
    if device not in DEVICES:
        raise VerifyError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if compare not in COMPARE:
        raise VerifyError(f"compare must be one of {', '.join(COMPARE)}, not {compare!r}")
    if steps < 2:
        raise VerifyError("steps must be at least 2 (a trend needs two losses)")
    if timeout <= 0:
        raise VerifyError("timeout must be positive")
    if repeats < 0 or (time_budget is not None and time_budget <= 0):
        raise VerifyError("repeats must be at least 0 and time_budget positive")
    interpreter = _interpreter(python)
    _require_torch(interpreter, python)
    cwd_path = Path(cwd).resolve() if cwd is not None else None
    if cwd_path is not None and not cwd_path.is_dir():
        raise VerifyError(f"{cwd}: no such directory (--cwd)")
    script_path = Path(script)
    original = _read(script_path)
    notebook = script_path.name.endswith(".ipynb")
    if notebook:
        original = _notebook_script(script_path, original)
    config_path = Path(config) if config is not None else None
    if fixed is not None:
        fixed_path: Path | None = Path(fixed)
        fixed_source = _read(Path(fixed))
        if str(fixed).endswith(".ipynb"):
            fixed_source = _notebook_script(Path(fixed), fixed_source)
        fixes: list[AppliedFix] = []
        notes: list[str] = []
        mode = (
            CompareMode.TRAIN
        )  # what changed is unknown: hold it to the behaviour-changing criterion
    else:
        fixed_path = None
        fixed_source, fixes, notes = fix_script(script_path, original, unsafe_fixes, config_path)
        unsafe = any(f.applicability == Applicability.UNSAFE.value for f in fixes)
        mode = CompareMode.TRAIN if unsafe else CompareMode.MATCH
    if fixed_source == original:
        mode = CompareMode.UNCHANGED
    elif compare != "auto":
        mode = compare

    result = VerifyResult(
        script=display_path(script_path),
        fixed_path=display_path(fixed_path) if fixed_path is not None else None,
        mode=mode,
        steps=steps,
        seed=seed,
        fixes=fixes,
        warnings=notes,
        original_source=original,
        fixed_source=fixed_source,
        tolerance=tolerance,
        match_rtol=match_rtol,
        cwd=str(cwd_path) if cwd_path is not None else None,
    )
    devices = ("cpu", "cuda") if device == "all" else (device,)
    with tempfile.TemporaryDirectory(prefix="torchlint-verify-") as folder:
        work = Path(folder)
        fixed_file = fixed_path
        label = None  # tracebacks of a given fixed file name it; torchlint's fixed copy is this
        original_file = None
        if notebook:  # the runs execute the cells' script under the notebook's name
            original_file = work / "original" / f"{script_path.stem}.py"
            original_file.parent.mkdir()
            original_file.write_text(original, encoding="utf-8")
        if mode != CompareMode.UNCHANGED and (
            fixed_file is None or fixed_file.name.endswith(".ipynb")
        ):
            fixed_file = work / "fixed" / script_path.name
            fixed_file.parent.mkdir()
            # In the original's encoding: its coding cookie (or BOM) comes along in the text.
            fixed_file.write_bytes(_encode_like(fixed_source, script_path))
            label = f"{os.path.abspath(script_path)} (fixed)"
        stamps = _snapshot(cwd_path) if cwd_path is not None else {}
        writes: list[tuple[str, list[str]]] = []  # in a shared --cwd: what each run wrote there

        def run(spec: RunSpec, name: str) -> RunOutcome:
            nonlocal stamps
            outcome = run_script(spec, work / name)
            if cwd_path is not None and outcome.status != "no-cuda":
                now = _snapshot(cwd_path)
                device_name, _, which = name.partition("-")
                writes.append((f"{which} run on {device_name}", _written(stamps, now)))
                stamps = now
            return outcome

        for name in devices:
            spec = RunSpec(
                script=script_path,
                device=name,
                steps=steps,
                seed=seed,
                timeout=timeout,
                python=interpreter,
                cpu_threads=cpu_threads,
                args=tuple(script_args),
                search_path=script_path.resolve().parent,
                cwd=cwd_path,
                source=original_file,
            )
            before = run(spec, f"{name}-original")
            after = None
            if fixed_file is not None and before.status != "no-cuda":
                after = run(replace(spec, source=fixed_file, label=label), f"{name}-fixed")
            verdict = judge(
                name,
                before,
                after,
                mode,
                tolerance=tolerance,
                match_rtol=match_rtol,
                required=device != "all" or name == "cpu",
            )
            if cwd_path is None:
                _cwd_hint(verdict, script_path)
            timed = repeats > 0 or time_budget is not None
            if timed and after is not None and before.trained and after.trained:
                from torchlint.runtime.timing import sample

                verdict.timing = sample(
                    spec,
                    replace(spec, source=fixed_file, label=label),
                    work / name,
                    repeats=repeats or None,
                    time_budget=time_budget,
                    seed=seed,
                )
            result.devices.append(verdict)
    for run_name, written in writes[:-1]:  # what the last run wrote, no run read
        if written:
            result.warnings.append(_cwd_warning(cwd_path or Path("."), run_name, written))
    return result
