"""Benchmark torchlint against its peers on a pinned corpus of real PyTorch code.

    python benchmarks/run.py                      # table of seconds, files/s, peak memory
    python benchmarks/run.py --json results.json  # also write the numbers
    python benchmarks/run.py --profile            # split torchlint's time into phases
    python benchmarks/run.py --packages torchvision --repeat 5 --skip-peers

The corpus is the ``.py`` files of pinned wheels fetched from PyPI with ``pip download --no-deps``
and unpacked into a cache directory outside the repository (``~/.cache/torchlint-bench`` by
default). TorchFix and ruff are installed into their own virtual environments there. Commands run
alternately, ``--repeat`` rounds, and the table reports medians. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import venv
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

PINS = {
    "torchvision": "torchvision==0.29.1",
    "timm": "timm==1.0.20",
    "lightning": "lightning==2.5.5",
}
DEFAULT_PACKAGES = ("torchvision", "timm")
PEERS = {"torchfix": "torchfix==0.7.0", "ruff": "ruff==0.14.0"}

PARSE_FLOOR = """
import pathlib, sys
import libcst
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.py")):
    try:
        libcst.parse_module(path.read_bytes())
    except Exception:
        pass
"""


@dataclass
class Measurement:
    name: str
    corpus: str
    seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def peak(self) -> float:
        return max(self.peak_mb) if self.peak_mb else float("nan")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- corpus and tools -----------------------------------------------------------------------------


def build_corpus(cache: Path, packages: list[str]) -> dict[str, Path]:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in packages:
        pin = PINS[name]
        version = pin.split("==")[1]
        target = cache / "corpus" / f"{name}-{version}"
        if not target.exists():
            log(f"fetching {pin}")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-q",
                    "-d",
                    str(wheels),
                    pin,
                ],
                check=True,
            )
            [wheel] = [w for w in wheels.glob(f"{name}-{version}-*.whl")]
            staging = target.with_suffix(".partial")
            shutil.rmtree(staging, ignore_errors=True)
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.namelist():
                    if member.endswith(".py"):
                        archive.extract(member, staging)
            staging.rename(target)
        out[name] = target
    return out


def tool_venv(cache: Path, name: str, requirement: str) -> Path:
    home = cache / f"venv-{name}"
    binary = home / "bin" / name
    if not binary.exists():
        log(f"installing {requirement} into {home}")
        venv.create(home, with_pip=True)
        subprocess.run([str(home / "bin" / "pip"), "install", "-q", requirement], check=True)
    return binary


def corpus_size(root: Path) -> tuple[int, int]:
    files = sorted(root.rglob("*.py"))
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    return len(files), lines


# -- measuring ------------------------------------------------------------------------------------


# An installed package has its bytecode compiled (pip does it at install time). With
# PYTHONDONTWRITEBYTECODE set, as some shells and CI images do, every timed run would compile
# torchlint and LibCST from source again, which is not what a user's run pays: drop it for the
# timed commands and compile what they import once, before timing.
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_imports() -> None:
    import compileall
    import importlib.util

    for module in ("torchlint", "libcst", "click", "pathspec"):
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                compileall.compile_dir(location, quiet=1)


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB of the process tree's largest member, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, env=BENCH_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, proc.returncode


def torchlint_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "torchlint", "--exit-zero", "-q", *args]


def run_benchmark(args: argparse.Namespace) -> dict:
    cache = Path(args.cache).expanduser()
    corpora = build_corpus(cache, args.packages)
    peers: dict[str, Path] = {}
    if not args.skip_peers:
        peers = {name: tool_venv(cache, name, req) for name, req in PEERS.items()}
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    compile_imports()
    results: dict[str, dict] = {}
    for corpus_name, root in corpora.items():
        files, lines = corpus_size(root)
        log(f"{corpus_name}: {files} files, {lines} lines")
        warm_cache = cache / f"torchlint-cache-{corpus_name}"
        shutil.rmtree(warm_cache, ignore_errors=True)
        subprocess.run(
            torchlint_cmd("--cache-dir", str(warm_cache), str(root)),
            check=True,
            env=BENCH_ENV,
            stdout=subprocess.DEVNULL,
        )
        touched = sorted(root.rglob("*.py"))[len(list(root.rglob("*.py"))) // 2]
        original = touched.read_bytes()
        commands: dict[str, list[str]] = {
            "torchlint cold, 1 worker": torchlint_cmd("--no-cache", "-j", "1", str(root)),
            f"torchlint cold, {jobs} workers": torchlint_cmd(
                "--no-cache", "-j", str(jobs), str(root)
            ),
            "torchlint warm": torchlint_cmd("--cache-dir", str(warm_cache), str(root)),
            "torchlint, one file touched": torchlint_cmd("--cache-dir", str(warm_cache), str(root)),
            "libcst parse (floor, 1 process)": [sys.executable, "-c", PARSE_FLOOR, str(root)],
        }
        slow = {}
        if "torchfix" in peers:
            slow["TorchFix 0.7.0 --select ALL"] = [
                str(peers["torchfix"]),
                "--select",
                "ALL",
                str(root),
            ]
        if "ruff" in peers:
            commands["ruff --select ALL --no-cache"] = [
                str(peers["ruff"]),
                "check",
                "--select",
                "ALL",
                "--no-cache",
                "--exit-zero",
                "-q",
                "--isolated",
                str(root),
            ]
        measurements = {name: Measurement(name, corpus_name) for name in [*commands, *slow]}
        for round_index in range(args.repeat):
            for name, command in commands.items():
                if name == "torchlint, one file touched":
                    touched.write_bytes(original + f"\n# touched {round_index}\n".encode())
                try:
                    seconds, peak, code = timed(command)
                finally:
                    touched.write_bytes(original)
                if name == "torchlint, one file touched":
                    # Put the cache back in the warm state for the next round.
                    subprocess.run(
                        commands["torchlint warm"], env=BENCH_ENV, stdout=subprocess.DEVNULL
                    )
                m = measurements[name]
                m.seconds.append(seconds)
                m.peak_mb.append(peak)
                m.exit_codes.append(code)
                log(f"  round {round_index + 1}: {name}: {seconds:.2f}s")
            if round_index < args.slow_repeat:
                for name, command in slow.items():
                    seconds, peak, code = timed(command)
                    m = measurements[name]
                    m.seconds.append(seconds)
                    m.peak_mb.append(peak)
                    m.exit_codes.append(code)
                    log(f"  round {round_index + 1}: {name}: {seconds:.2f}s")
        rows = {
            name: {
                "median_s": m.median,
                "runs_s": m.seconds,
                "peak_mb": m.peak,
                "files_per_s": files / m.median if m.median else None,
                "exit_codes": m.exit_codes,
            }
            for name, m in measurements.items()
        }
        results[corpus_name] = {
            "files": files,
            "lines": lines,
            "rows": rows,
            "ratios": ratios(rows),
        }
    return {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {jobs} cores, {platform.python_version()}",
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "corpora": results,
        "jobs": jobs,
    }


def ratios(rows: dict[str, dict]) -> dict[str, float | None]:
    """The table's two ratios, from a corpus's rows (None when a row is missing or zero):
    torchlint cold (the best of its worker counts) over the LibCST parse floor, and TorchFix over
    that torchlint cold best."""

    def median(name: str) -> float | None:
        value = rows[name]["median_s"] if name in rows else None
        return value if value and value == value else None  # neither 0 nor NaN

    colds = [median(k) for k in rows if k.startswith("torchlint cold")]
    best = min((c for c in colds if c is not None), default=None)
    floor = median("libcst parse (floor, 1 process)")
    torchfix = next((median(k) for k in rows if k.startswith("TorchFix")), None)
    return {
        "torchlint_cold_best_over_libcst_parse_floor": best / floor if best and floor else None,
        "torchfix_over_torchlint_cold_best": torchfix / best if torchfix and best else None,
    }


def print_table(report: dict) -> None:
    print(f"date: {report['date']}   machine: {report['machine']}")
    print(f"command: {report['command']}")
    for corpus, data in report["corpora"].items():
        print(f"\n{corpus}: {data['files']} files, {data['lines']} lines")
        print(f"| {'tool':<34} | {'median s':>9} | {'files/s':>8} | {'peak MB':>8} |")
        print(f"|{'-' * 36}|{'-' * 11}|{'-' * 10}|{'-' * 10}|")
        for name, row in data["rows"].items():
            print(
                f"| {name:<34} | {row['median_s']:>9.2f} | {row['files_per_s']:>8.0f} | "
                f"{row['peak_mb']:>8.0f} |"
            )
        ratios = data["ratios"]
        floor_ratio = ratios["torchlint_cold_best_over_libcst_parse_floor"]
        if floor_ratio is not None:
            print(f"ratio torchlint cold (best) / libcst parse floor: {floor_ratio:.2f}")
        torchfix_ratio = ratios["torchfix_over_torchlint_cold_best"]
        if torchfix_ratio is not None:
            print(f"ratio TorchFix / torchlint cold (best): {torchfix_ratio:.1f}x")


# -- profile --------------------------------------------------------------------------------------


def run_profile(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from torchlint import profiling
    from torchlint.config import Settings
    from torchlint.diagnostics import RunResult
    from torchlint.report import ReportOptions, render
    from torchlint.runner import RunMode, process_source
    from torchlint.sources import read_source

    cache = Path(args.cache).expanduser()
    corpora = build_corpus(cache, args.packages)
    out = {}
    for corpus_name, root in corpora.items():
        timer = profiling.PhaseTimer()
        profiling.ACTIVE = timer
        settings = Settings()
        run = RunResult()
        start = time.perf_counter()
        for path in sorted(root.rglob("*.py")):
            with timer.phase("read"):
                source = read_source(path)
            run.files.append(process_source(source.text, str(path), settings, RunMode()))
        with timer.phase("report"):
            render("text", run, ReportOptions())
        total = time.perf_counter() - start
        profiling.ACTIVE = None
        t = dict(timer.totals)
        lazy = t.get("facts-lazy", 0.0)
        split = {
            "read": t.get("read", 0.0),
            "parse": t.get("parse", 0.0),
            "metadata (positions)": t.get("metadata", 0.0),
            "torch facts": t.get("facts", 0.0) + lazy,
            "rules": t.get("rules", 0.0) - lazy,
            "report": t.get("report", 0.0),
        }
        split["other (needle check, suppressions, glue)"] = total - sum(split.values())
        out[corpus_name] = {"total_s": total, "phases_s": split, "findings": len(run.diagnostics)}
        print(f"\n{corpus_name}: {total:.2f}s in one process, {len(run.diagnostics)} findings")
        for name, seconds in split.items():
            print(f"  {name:<42} {seconds:7.2f}s  {100 * seconds / total:5.1f}%")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--packages",
        default=",".join(DEFAULT_PACKAGES),
        help=f"comma-separated, from: {', '.join(PINS)}",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds for the fast commands")
    parser.add_argument(
        "--slow-repeat",
        type=int,
        default=1,
        help="rounds for TorchFix (it takes minutes per round)",
    )
    parser.add_argument("--cache", default="~/.cache/torchlint-bench")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--profile", action="store_true", help="phase split, in one process")
    parser.add_argument("--skip-peers", action="store_true", help="no TorchFix or ruff")
    args = parser.parse_args()
    args.packages = [p.strip() for p in args.packages.split(",") if p.strip()]
    unknown = [p for p in args.packages if p not in PINS]
    if unknown:
        parser.error(f"unknown package(s): {', '.join(unknown)}")
    if args.profile:
        report = {"profile": run_profile(args)}
    else:
        report = run_benchmark(args)
        print_table(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
