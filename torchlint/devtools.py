"""Maintainer commands: ``python -m torchlint.devtools regen-fixed FILE...``.

Writes ``x.fixed.py`` beside each fixture ``x.py`` from the rules its directory names. Read the
resulting diff before committing: the fixed file is a test expectation, not an output to trust.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torchlint.engine import fix_source
from torchlint.registry import find_rule


def regen_fixed(paths: list[str]) -> int:
    for raw in paths:
        path = Path(raw)
        rules = [find_rule(code) for code in path.parent.name.split("+")]
        if not all(rules):
            print(f"{path}: directory name is not a rule code", file=sys.stderr)
            return 2
        source = path.read_text(encoding="utf-8")
        outcome = fix_source(source, str(path), rules, unsafe=True)  # type: ignore[arg-type]
        target = path.with_name(path.name[: -len(".py")] + ".fixed.py")
        if outcome.source == source:
            print(f"{path}: no fix applies; no .fixed.py written")
            continue
        target.write_text(outcome.source, encoding="utf-8", newline="")
        print(f"wrote {target} ({len(outcome.applied)} fixes)")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "regen-fixed":
        print(__doc__, file=sys.stderr)
        return 2
    return regen_fixed(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
