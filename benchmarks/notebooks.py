"""Is a folder of notebooks linted as fast, per line of code, as the same code in ``.py`` files?

    python benchmarks/notebooks.py                       # 100 notebooks from the ecosystem corpus
    python benchmarks/notebooks.py --count 100 --repeat 5 --jobs 1
    python benchmarks/notebooks.py --corpus DIR --json results.json

``--count`` real ``.py`` files (50 to 1,500 lines each, that parse) are taken from the corpus
(default: the ecosystem corpus in ``~/.cache/torchlint-ecosystem/corpus``, else this repository's
fixtures) in a stable order and written twice into a temporary folder: as they are, and as
notebooks in the shape Jupyter saves (nbformat 4, indent 1): the code split into cells at
top-level statements (about 25 lines a cell), a markdown cell between code cells, an IPython
magic cell first, and a stream output and an execution count on each code cell. Then
``torchlint check`` (no cache, every rule, preview included) lints each folder, alternately,
``--repeat`` times; the medians of the CPU time of torchlint's processes (steadier than wall time
on a shared machine; wall time is shown too) are reported as microseconds per line of code (the
notebooks' magic lines not counted). Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path.home() / ".cache" / "torchlint-ecosystem" / "corpus"
CELL_LINES = 25


def pick_files(corpus: Path, count: int) -> list[Path]:
    chosen: list[Path] = []
    for path in sorted(corpus.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
            lines = text.count("\n")
            if not 50 <= lines <= 1500:
                continue
            ast.parse(text)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        chosen.append(path)
        if len(chosen) == count:
            break
    return chosen


def cells_of(text: str) -> list[str]:
    """The code split at top-level statement starts into chunks of about CELL_LINES lines."""
    lines = text.splitlines(keepends=True)
    starts = sorted(
        {node.lineno - len(getattr(node, "decorator_list", [])) for node in ast.parse(text).body}
    )
    cuts = [0]
    for start in starts:
        if start - 1 - cuts[-1] >= CELL_LINES:
            cuts.append(start - 1)
    cuts.append(len(lines))
    return ["".join(lines[a:b]) for a, b in zip(cuts, cuts[1:], strict=False) if a < b]


def notebook_text(text: str) -> str:
    cells: list[dict[str, object]] = [
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "outputs": [],
            "source": ["%matplotlib inline\n", "!nvidia-smi"],
        }
    ]
    for number, chunk in enumerate(cells_of(text), start=2):
        cells.append({"cell_type": "markdown", "metadata": {}, "source": [f"## Part {number}"]})
        cells.append(
            {
                "cell_type": "code",
                "execution_count": number,
                "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["ok\n"]}],
                "source": chunk.splitlines(keepends=True),
            }
        )
    document = {
        "cells": cells,
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def lint_seconds(folder: Path, jobs: int | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of torchlint's processes) of one run over ``folder``."""
    command = [
        sys.executable, "-m", "torchlint", "check", str(folder), "--no-cache", "--select", "ALL",
        "--preview", "--exit-zero", "--output-format", "json",
    ]  # fmt: skip
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        if not done.stdout.startswith("["):
            raise SystemExit(f"torchlint failed on {folder}:\n{done.stderr}")
        # An internal error in a rule (exit 2): every other file was still linted; say so.
        print(f"  note: {done.stderr.strip().splitlines()[-1][:200]}", file=sys.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--jobs", type=int, default=None, help="torchlint's --jobs (default: its own)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    corpus = args.corpus or (DEFAULT_CORPUS if DEFAULT_CORPUS.is_dir() else ROOT / "fixtures")
    files = pick_files(corpus, args.count)
    with tempfile.TemporaryDirectory(prefix="torchlint-nb-bench-") as folder:
        py_dir, nb_dir = Path(folder) / "py", Path(folder) / "nb"
        py_dir.mkdir()
        nb_dir.mkdir()
        lines = 0
        for index, path in enumerate(files):
            text = path.read_text(encoding="utf-8")
            lines += len(text.splitlines())
            (py_dir / f"f{index:03}.py").write_text(text, encoding="utf-8")
            (nb_dir / f"f{index:03}.ipynb").write_text(notebook_text(text), encoding="utf-8")
        runs: dict[str, list[tuple[float, float]]] = {"py": [], "ipynb": []}
        lint_seconds(py_dir, args.jobs)  # warm the file system cache and the imports
        for _ in range(args.repeat):
            runs["py"].append(lint_seconds(py_dir, args.jobs))
            runs["ipynb"].append(lint_seconds(nb_dir, args.jobs))
    # The machine may be shared: CPU seconds are the steadier measure; wall seconds are shown too.
    wall = {kind: statistics.median(r[0] for r in values) for kind, values in runs.items()}
    cpu = {kind: statistics.median(r[1] for r in values) for kind, values in runs.items()}
    result = {
        "files": len(files),
        "lines_of_code": lines,
        "corpus": str(corpus),
        "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "cpu_us_per_line": {kind: value / lines * 1e6 for kind, value in cpu.items()},
        "ratio_ipynb_to_py": {"cpu": cpu["ipynb"] / cpu["py"], "wall": wall["ipynb"] / wall["py"]},
        # Each notebook run against the .py run just before it: steadier than a ratio of medians.
        "paired_cpu_ratio": statistics.median(
            nb[1] / py[1] for py, nb in zip(runs["py"], runs["ipynb"], strict=True)
        ),
        "runs": runs,
    }
    print(
        f"{len(files)} files, {lines:,} lines of code (corpus: {corpus}), medians of {args.repeat}"
    )
    for kind in ("py", "ipynb"):
        print(
            f"  {kind:6}: CPU {cpu[kind]:6.2f} s ({cpu[kind] / lines * 1e6:5.1f} us/line), "
            f"wall {wall[kind]:6.2f} s"
        )
    ratio = result["ratio_ipynb_to_py"]
    print(f"  notebooks / py: CPU {ratio['cpu']:.3f}, wall {ratio['wall']:.3f}")
    print(
        f"  notebooks / py, median of the paired runs' CPU ratios: {result['paired_cpu_ratio']:.3f}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
