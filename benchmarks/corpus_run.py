"""Lint and fix real PyTorch code with every rule; check that nothing crashes and fixes hold.

    python benchmarks/corpus_run.py                                  # torchvision, timm
    python benchmarks/corpus_run.py --packages torchvision,timm,lightning --json corpus.json
    python benchmarks/corpus_run.py --scaling                        # then benchmarks/scaling.py

The corpus is the one benchmarks/run.py builds (pinned wheels from PyPI, unpacked into
``~/.cache/torchlint-bench``). For each package:

1. lint it through the CLI: ``torchlint --preview --select ALL --no-cache --output-format json``
   (findings per rule; any internal error or traceback on stderr is a crash);
2. copy it to a temporary directory and apply every fix there, as
   ``torchlint --fix --unsafe-fixes --preview --select ALL`` does (the runner's library entry, to
   see per file what was applied, rejected or left unconverged);
3. check every fixed file: LibCST parses it and, where the original compiled, CPython compiles it;
4. run the fixes a second time on the fixed copy: nothing may change.

The original corpus is never written. Exit status 1 when any crash, unparsable output,
non-converged or non-idempotent file was found. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import libcst as cst

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from torchlint.config import Overrides, SettingsResolver  # noqa: E402
from torchlint.files import discover  # noqa: E402
from torchlint.runner import RunMode, run_paths  # noqa: E402

SELECTION = ("--preview", "--select", "ALL")


def _load_bench() -> object:
    """benchmarks/run.py, imported by path (``run`` is too common a module name)."""
    spec = importlib.util.spec_from_file_location("torchlint_bench_run", HERE / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Summary:
    package: str
    files: int = 0
    lines: int = 0
    syntax_errors: int = 0  # TL000: files of the corpus that do not parse (not a crash)
    findings: Counter = field(default_factory=Counter)
    lint_exit_code: int = 0
    lint_seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)  # internal errors, tracebacks
    fixed_files: int = 0
    fixes_applied: Counter = field(default_factory=Counter)
    fix_seconds: float = 0.0
    rejected: list[str] = field(default_factory=list)  # fixes the engine dropped: would not parse
    unparsable: list[str] = field(default_factory=list)
    not_compiling: list[str] = field(default_factory=list)
    non_converged: list[str] = field(default_factory=list)
    second_run_changes: list[str] = field(default_factory=list)
    remaining_fixable: int = 0

    @property
    def failed(self) -> bool:
        return bool(
            self.crashes
            or self.unparsable
            or self.not_compiling
            or self.non_converged
            or self.second_run_changes
        )

    def as_json(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            out[key] = dict(sorted(value.items())) if isinstance(value, Counter) else value
        return out


def resolver() -> SettingsResolver:
    return SettingsResolver(Overrides(select=("ALL",), preview=True, unsafe_fixes=True), None)


def compiles(text: bytes, name: str) -> bool:
    try:
        compile(text, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def cst_parses(text: bytes) -> bool:
    try:
        cst.parse_module(text)
    except Exception:
        return False
    return True


def lint_with_cli(root: Path, summary: Summary, jobs: int) -> None:
    command = [sys.executable, "-m", "torchlint", *SELECTION, "--no-cache", "--exit-zero"]
    command += ["-j", str(jobs), "--output-format", "json", str(root)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=root)
    summary.lint_seconds = time.perf_counter() - start
    summary.lint_exit_code = proc.returncode
    for line in proc.stderr.splitlines():
        if "internal error" in line or "Traceback" in line:
            summary.crashes.append(f"lint: {line}")
    if proc.returncode not in (0, 1):
        summary.crashes.append(f"lint: exit code {proc.returncode}: {proc.stderr[-2000:]}")
    try:
        items = json.loads(proc.stdout)
    except json.JSONDecodeError:
        summary.crashes.append(f"lint: the JSON output does not parse: {proc.stdout[:500]!r}")
        return
    for item in items:
        if item["code"] == "TL000":
            summary.syntax_errors += 1
        else:
            summary.findings[item["code"]] += 1


def fix_copy(copy: Path, summary: Summary, jobs: int) -> None:
    start = time.perf_counter()
    run = run_paths([copy], resolver(), RunMode(fix=True, write=True, unsafe=True), jobs=jobs,
                    use_cache=False)  # fmt: skip
    summary.fix_seconds = time.perf_counter() - start
    for path, message in run.errors:
        summary.crashes.append(f"fix: {path}: {message}")
    for error in run.internal_errors:
        summary.crashes.append(
            f"fix: internal error in {error.rule} on {error.path}: {error.message.splitlines()[0]}"
        )
    for file in run.files:
        if file.error:
            summary.crashes.append(f"fix: {file.path}: {file.error}")
        if file.applied:
            summary.fixed_files += 1
        summary.fixes_applied.update(d.code for d in file.applied)
        for warning in file.warnings:
            if "did not converge" in warning:
                summary.non_converged.append(f"{file.path}: {warning}")
            elif "was not applied" in warning:
                summary.rejected.append(f"{file.path}: {warning}")


def verify_copy(root: Path, copy: Path, files: list[Path], summary: Summary, jobs: int) -> None:
    for original in files:
        fixed = copy / original.relative_to(root)
        before = original.read_bytes()
        after = fixed.read_bytes()
        if before == after:
            continue
        if not cst_parses(after):
            summary.unparsable.append(str(fixed.relative_to(copy)))
        elif compiles(before, str(original)) and not compiles(after, str(fixed)):
            summary.not_compiling.append(str(fixed.relative_to(copy)))
    again = run_paths([copy], resolver(), RunMode(fix=True, write=False, unsafe=True), jobs=jobs,
                      use_cache=False)  # fmt: skip
    for error in again.internal_errors:
        summary.crashes.append(f"second fix: internal error in {error.rule} on {error.path}")
    for file in again.files:
        if file.applied:
            codes = ", ".join(sorted({d.code for d in file.applied}))
            summary.second_run_changes.append(f"{file.path}: {codes}")
        summary.remaining_fixable += sum(
            1 for d in file.diagnostics if d.fix is not None and d.fix.is_applied_with(True)
        )


def run_package(name: str, root: Path, jobs: int, keep: Path | None) -> Summary:
    summary = Summary(name)
    files = discover([root], resolver().for_path).files
    summary.files = len(files)
    summary.lines = sum(p.read_bytes().count(b"\n") for p in files)
    log(f"{name}: {summary.files} files, {summary.lines} lines: linting")
    lint_with_cli(root, summary, jobs)
    with tempfile.TemporaryDirectory(prefix=f"torchlint-corpus-{name}-") as tmp:
        copy = Path(tmp) / root.name
        shutil.copytree(root, copy)
        log(f"{name}: fixing a copy in {copy}")
        fix_copy(copy, summary, jobs)
        log(f"{name}: verifying the fixed files, second fix run")
        verify_copy(root, copy, files, summary, jobs)
        if keep is not None:
            shutil.copytree(copy, keep / root.name, dirs_exist_ok=True)
    return summary


def print_summary(summaries: list[Summary]) -> None:
    header = (
        f"| {'package':<12} | {'files':>5} | {'lines':>7} | {'findings':>8} | {'fixed files':>11} "
        f"| {'fixes':>5} | {'crashes':>7} | {'unparsable':>10} | {'non-converged':>13} "
        f"| {'2nd run changed':>15} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    total = Summary("total")
    for s in summaries:
        _row(s)
        total.files += s.files
        total.lines += s.lines
        total.findings.update(s.findings)
        total.fixed_files += s.fixed_files
        total.fixes_applied.update(s.fixes_applied)
        total.crashes += s.crashes
        total.unparsable += s.unparsable + s.not_compiling
        total.non_converged += s.non_converged
        total.second_run_changes += s.second_run_changes
        total.syntax_errors += s.syntax_errors
        total.rejected += s.rejected
    if len(summaries) > 1:
        _row(total)
    codes = sorted(set(total.findings) | set(total.fixes_applied))
    print(f"\n| {'rule':<6} | {'findings':>8} | {'fixes applied':>13} |")
    print(f"|{'-' * 8}|{'-' * 10}|{'-' * 15}|")
    for code in codes:
        print(f"| {code:<6} | {total.findings[code]:>8} | {total.fixes_applied[code]:>13} |")
    print(f"\nsyntax errors in the corpus itself (TL000, not crashes): {total.syntax_errors}")
    print(f"fixes dropped by the engine because the result would not parse: {len(total.rejected)}")
    for s in summaries:
        print(f"{s.package}: lint {s.lint_seconds:.1f}s, fix {s.fix_seconds:.1f}s, "
              f"lint exit code {s.lint_exit_code}")  # fmt: skip
    for title, items in (
        ("crashes", total.crashes),
        ("unparsable or non-compiling outputs", total.unparsable),
        ("non-converged files", total.non_converged),
        ("files a second fix run changed", total.second_run_changes),
        ("rejected fixes", total.rejected),
    ):
        if items:
            print(f"\n{title}:")
            for item in items[:50]:
                print(f"  {item}")
            if len(items) > 50:
                print(f"  ... and {len(items) - 50} more")


def _row(s: Summary) -> None:
    print(
        f"| {s.package:<12} | {s.files:>5} | {s.lines:>7} | {sum(s.findings.values()):>8} "
        f"| {s.fixed_files:>11} | {sum(s.fixes_applied.values()):>5} | {len(s.crashes):>7} "
        f"| {len(s.unparsable) + len(s.not_compiling):>10} | {len(s.non_converged):>13} "
        f"| {len(s.second_run_changes):>15} |"
    )


def main() -> int:
    bench = _load_bench()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--packages",
        default=",".join(bench.DEFAULT_PACKAGES),
        help=f"comma-separated, from: {', '.join(bench.PINS)}",
    )
    parser.add_argument("--cache", default="~/.cache/torchlint-bench")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--json", help="also write the summary to this file")
    parser.add_argument("--keep", help="copy the fixed corpus to this directory")
    parser.add_argument("--scaling", action="store_true", help="then run benchmarks/scaling.py")
    args = parser.parse_args()
    packages = [p.strip() for p in args.packages.split(",") if p.strip()]
    unknown = [p for p in packages if p not in bench.PINS]
    if unknown:
        parser.error(f"unknown package(s): {', '.join(unknown)}")
    corpora = bench.build_corpus(Path(args.cache).expanduser(), packages)
    keep = Path(args.keep) if args.keep else None
    summaries = [run_package(name, root, args.jobs, keep) for name, root in corpora.items()]
    print(f"date: {date.today().isoformat()}   machine: {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")  # fmt: skip
    print(f"command: python benchmarks/corpus_run.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"corpus: {', '.join(bench.PINS[p] for p in packages)}\n")
    print_summary(summaries)
    failed = any(s.failed for s in summaries)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "date": date.today().isoformat(),
                    "packages": {s.package: s.as_json() for s in summaries},
                    "failed": failed,
                },
                indent=2,
            )
        )
    if args.scaling:
        from scaling import main as scaling_main

        scaling_main([])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
