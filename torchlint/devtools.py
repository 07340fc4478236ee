"""Maintainer commands.

``python -m torchlint.devtools regen-fixed FILE...``, ``python -m torchlint.devtools rules-table``
(the README's rule table) and ``python -m torchlint.devtools rule-index`` (the built-in rules'
codes, names and modules in ``torchlint/data/rule_index.json``, read by runs that need no rule).

Writes ``x.fixed.py`` beside each fixture ``x.py`` from the rules its directory names. Read the
resulting diff before committing: the fixed file is a test expectation, not an output to trust.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torchlint.config import Settings
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
        # As the fixture test runs the case: test code under the default patterns, from its folder.
        test_code = Settings(root=path.parent).is_test_code(path)
        outcome = fix_source(
            source,
            str(path),
            rules,  # type: ignore[arg-type]
            unsafe=True,
            test_code=test_code,
        )
        target = path.with_name(path.name[: -len(".py")] + ".fixed.py")
        if outcome.source == source:
            print(f"{path}: no fix applies; no .fixed.py written")
            continue
        target.write_text(outcome.source, encoding="utf-8", newline="")
        print(f"wrote {target} ({len(outcome.applied)} fixes)")
    return 0


def rules_table() -> str:
    """The README's rule table, generated from the registry."""
    from torchlint.measured import label
    from torchlint.registry import all_rules

    lines = [
        "| code | name | what it reports | category | severity | fix | precision | preview |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule in all_rules():
        if not rule.__module__.startswith("torchlint.rules."):
            continue
        fix = rule.fix_applicability.value if rule.fix_applicability is not None else "-"
        summary = rule.summary.replace("|", "\\|")
        lines.append(
            f"| {rule.code} | `{rule.name}` | {summary} | {rule.category.value} | "
            f"{rule.severity.value} | {fix} | {label(rule.code)} | {'yes' if rule.preview else ''} |"
        )
    return "\n".join(lines) + "\n"


def write_rule_index() -> int:
    """Write ``torchlint/data/rule_index.json`` from the built-in rule classes."""
    import json

    from torchlint.registry import RULE_INDEX, rule_index

    RULE_INDEX.write_text(json.dumps(rule_index(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RULE_INDEX}")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["rules-table"]:
        sys.stdout.write(rules_table())
        return 0
    if argv == ["rule-index"]:
        return write_rule_index()
    if len(argv) < 2 or argv[0] != "regen-fixed":
        print(__doc__, file=sys.stderr)
        return 2
    return regen_fixed(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
