"""The editor's incremental parse against LibCST's whole parse, on the pinned corpus.

    python benchmarks/incremental_check.py                  # the corpus of benchmarks/run.py
    python benchmarks/incremental_check.py path/to/code ...

For every file LibCST parses, ``IncrementalParser`` (each chunk parsed on its own, then put
together) must give the same code back and a tree equal node for node, with the same module
defaults; a file it declines (a whole parse then runs) is counted, not failed. Not run by CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import libcst as cst

from torchlint.incremental import IncrementalParser

CORPUS = Path("~/.cache/torchlint-bench/corpus").expanduser()


def main(roots: list[Path]) -> int:
    files = declined = mismatched = 0
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            source = path.read_text(encoding="utf-8", errors="replace")
            try:
                whole = cst.parse_module(source)
            except Exception:
                continue
            files += 1
            module = IncrementalParser(min_lines=0).parse(source)
            if module is None:
                declined += 1
                continue
            same = (
                module.code == source
                and module.deep_equals(whole)
                and module.default_indent == whole.default_indent
                and module.default_newline == whole.default_newline
            )
            if not same:
                mismatched += 1
                print(f"MISMATCH {path}")
    print(f"files {files}, declined (whole parse) {declined}, mismatches {mismatched}")
    return 1 if mismatched else 0


if __name__ == "__main__":
    given = [Path(p) for p in sys.argv[1:]] or sorted(CORPUS.glob("*"))
    raise SystemExit(main(given))
