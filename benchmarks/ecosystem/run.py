"""The ecosystem check: lint pinned real PyTorch projects and diff the findings against a snapshot.

    python benchmarks/ecosystem/run.py                 # fetch, lint, diff, precision table
    python benchmarks/ecosystem/run.py --update        # ... and accept the findings as the snapshot
    python benchmarks/ecosystem/run.py --table         # the table from the committed files alone
    python benchmarks/ecosystem/run.py --sample TL201  # the findings of a rule to judge, with context
    python benchmarks/ecosystem/run.py --merge DIR     # add DIR/*.tsv verdict rows to verdicts.tsv
    python benchmarks/ecosystem/run.py --write-docs    # regenerate the precision pages and data

Like ruff's ecosystem check, a rule change is read against real code before it lands: every finding
the change adds or removes is printed with its context, the new findings of a rule's sample must be
judged (verdicts.tsv), and ``tests/test_ecosystem.py`` keeps snapshot, verdicts and the generated
pages in step. The corpus (``projects.toml``) is downloaded once into
``~/.cache/torchlint-ecosystem`` (``--cache-dir``). Exit status: 0 when the findings equal the
snapshot, 1 when they differ, 2 when the corpus cannot be fetched or torchlint fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import precision_pages  # noqa: E402
from corpus import DEFAULT_CACHE, CorpusError, ensure_corpus, load_projects  # noqa: E402
from findings import Finding, context, lint, read_snapshot, write_snapshot  # noqa: E402
from verdicts import (  # noqa: E402
    precision_table,
    problems,
    read_verdicts,
    sample,
    totals,
    write_verdicts,
)


def default_rules() -> list[tuple[str, str, bool]]:
    """(code, name, preview) of every built-in rule, from the rule index."""
    index = HERE.parents[1] / "torchlint" / "data" / "rule_index.json"
    return [(e["code"], e["name"], bool(e["preview"])) for e in json.loads(index.read_text())]


def project_names() -> list[str]:
    return [p.folder for p in load_projects()]


def print_table(findings: list[Finding]) -> None:
    table = precision_table(findings, read_verdicts())
    names = {code: name for code, name, _ in default_rules()}
    print(f"{'rule':6} {'name':38} {'findings':>8} {'judged':>6} {'right':>5} {'wrong':>5} "
          f"{'unsure':>6} {'precision':>9} {'fix ok':>6} {'fix bad':>7}")  # fmt: skip
    for code, r in sorted(table.items()):
        precision = "-" if r.precision is None else f"{100 * r.precision:.0f}%"
        print(f"{code:6} {names.get(code, '?'):38} {r.findings:8} {r.judged:6} {r.tp:5} {r.fp:5} "
              f"{r.unsure:6} {precision:>9} {r.fixes_correct:6} {r.fixes_wrong:7}")  # fmt: skip
    pooled, weighted = totals(table)
    fmt = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    print(f"\n{len(findings)} findings; judged findings right: {fmt(pooled)}; "
          f"weighted by findings per rule: {fmt(weighted)}")  # fmt: skip
    issues = problems(findings, read_verdicts())
    if issues:
        print(f"\nverdicts out of step with the snapshot ({len(issues)}):")
        for line in issues[:40]:
            print(f"  {line}")


def print_diff(corpus: Path, before: list[Finding], after: list[Finding]) -> int:
    old, new = set(before), set(after)
    added = sorted(new - old)
    removed = sorted(old - new)
    for title, group in (("added", added), ("removed", removed)):
        if not group:
            continue
        print(f"\n## {len(group)} {title}\n")
        for finding in group:
            print(f"{'+' if title == 'added' else '-'} {finding.id}: {finding.message}")
            print(context(corpus, finding))
            print()
    print(f"ecosystem: {len(added)} added, {len(removed)} removed, {len(new)} findings")
    return 1 if added or removed else 0


def merge(directory: Path) -> int:
    current = {v.id: v for v in read_verdicts()}
    for path in sorted(directory.glob("*.tsv")):
        for v in read_verdicts(path):
            current[v.id] = v
    write_verdicts(list(current.values()))
    print(f"verdicts.tsv: {len(current)} rows")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--update", action="store_true", help="write the findings as the snapshot")
    parser.add_argument("--table", action="store_true", help="print the table; lint nothing")
    parser.add_argument("--sample", metavar="CODE", help="print a rule's findings to judge")
    parser.add_argument("--merge", metavar="DIR", type=Path, help="merge DIR/*.tsv verdicts")
    parser.add_argument("--write-docs", action="store_true", help="regenerate precision pages")
    args = parser.parse_args(argv)

    if args.merge:
        return merge(args.merge)
    if args.table or args.write_docs:
        snapshot = read_snapshot()
        if args.write_docs:
            table = precision_table(snapshot, read_verdicts())
            for path in precision_pages.write(table, default_rules(), project_names()):
                print(f"wrote {path.relative_to(HERE.parents[1])}")
        print_table(snapshot)
        return 0
    try:
        corpus = ensure_corpus(args.cache_dir)
    except CorpusError as exc:
        print(f"ecosystem: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    # A sample needs only its rule's findings: rules are independent, and a narrow selection
    # lets the needle check skip most files.
    extra = ("--select", args.sample) if args.sample else ()
    try:
        found = lint(corpus, args.jobs, extra)
    except RuntimeError as exc:
        print(f"ecosystem: {exc}", file=sys.stderr)
        return 2
    print(f"linted the corpus in {time.monotonic() - started:.1f} s", file=sys.stderr)
    if args.sample:
        chosen = sample([f for f in found if f.code == args.sample])
        total = sum(f.code == args.sample for f in found)
        print(f"# {args.sample}: {total} findings, {len(chosen)} to judge\n")
        for finding in chosen:
            fix = f" [fix: {finding.fix}]" if finding.fix else ""
            print(f"{finding.id}{fix}\n  {finding.message}\n{context(corpus, finding, 3)}\n")
        return 0
    status = print_diff(corpus, read_snapshot(), found)
    if args.update:
        write_snapshot(found)
        print("snapshot updated")
        status = 0
    print()
    print_table(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
