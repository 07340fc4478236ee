"""Every rule has a doc page whose Example is reported and whose 'Use instead' is not."""

from __future__ import annotations

import pytest

from torchlint.docs import code_block, doc_section, rule_doc
from torchlint.engine import lint_source
from torchlint.registry import all_rules

# TL000 (syntax-error) lives outside the rules package, since the engine reports it rather than a
# traversal; its page follows the same structure and its Example (a file that does not parse) is
# reported by the same lint_source call, so it is checked like the others.
RULES = [
    r
    for r in all_rules()
    if r.__module__.startswith("torchlint.rules.") or r.__module__ == "torchlint.rules.syntax_error"
]
SECTIONS = ["What it does", "Why is this bad?", "Example", "Use instead", "References"]


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_doc_structure(rule) -> None:  # noqa: ANN001
    doc = rule_doc(rule)
    assert doc.startswith(f"# {rule.code} {rule.name}\n")
    for title in SECTIONS:
        assert doc_section(doc, title), f"{rule.code}: missing section {title!r}"
    if rule.fix_applicability is not None:
        assert doc_section(doc, "Fix safety"), f"{rule.code}: fixable rule without 'Fix safety'"


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_example_is_reported_and_use_instead_is_not(rule) -> None:  # noqa: ANN001
    doc = rule_doc(rule)
    example = code_block(doc_section(doc, "Example"))
    better = code_block(doc_section(doc, "Use instead"))
    assert example and better, f"{rule.code}: Example and Use instead need a python block"
    reported = lint_source(example, "example.py", [rule]).diagnostics
    assert [d.code for d in reported if d.code == rule.code], f"{rule.code}: Example not reported"
    clean = lint_source(better, "better.py", [rule]).diagnostics
    assert [d for d in clean if d.code == rule.code] == [], f"{rule.code}: Use instead reported"


def test_summaries_are_one_sentence() -> None:
    for rule in RULES:
        assert rule.summary and "\n" not in rule.summary, rule.code


def test_syntax_error_rule_is_the_engines_code() -> None:
    from torchlint.diagnostics import SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME
    from torchlint.rules.syntax_error import SyntaxErrorRule

    assert (SyntaxErrorRule.code, SyntaxErrorRule.name) == (SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME)
    assert "TL000" in [r.code for r in RULES]
