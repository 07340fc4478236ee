"""Every built-in rule is found by one name: its module, its page and its cases are where
``torchlint.layout`` says, and its cases say both what must and what must not be reported."""

from __future__ import annotations

import ast

import pytest

from torchlint.layout import SOURCE_TREE, is_code, is_name, module_name, qualified_module
from torchlint.registry import all_rules
from torchlint.rule import Rule
from torchlint.testing import load_case

BUILTIN = [r for r in all_rules() if r.__module__.startswith("torchlint.rules.")]
IDS = [r.code for r in BUILTIN]
# TL000 is reported by the engine for a file that does not parse; a case file must parse.
WITHOUT_CASES = {"TL000"}


def test_the_built_in_rules_are_all_there() -> None:
    assert len(BUILTIN) >= 50


@pytest.mark.parametrize("rule", BUILTIN, ids=IDS)
def test_module_is_named_after_the_rule(rule: type[Rule]) -> None:
    assert is_code(rule.code) and is_name(rule.name), (rule.code, rule.name)
    assert rule.__module__ == qualified_module(rule.name)
    assert SOURCE_TREE.module_path(rule.name).is_file()


@pytest.mark.parametrize("rule", BUILTIN, ids=IDS)
def test_page_is_present(rule: type[Rule]) -> None:
    page = SOURCE_TREE.page_path(rule.code)
    assert page.read_text(encoding="utf-8").startswith(f"# {rule.code} {rule.name}\n")


@pytest.mark.parametrize("rule", [r for r in BUILTIN if r.code not in WITHOUT_CASES], ids=str)
def test_cases_say_what_must_and_must_not_be_reported(rule: type[Rule]) -> None:
    assert SOURCE_TREE.cases_dir(rule.code).is_dir()
    cases = [
        load_case(path)
        for folder in SOURCE_TREE.case_dirs(rule.code)
        for path in sorted(folder.glob("*.py"))
        if not path.name.endswith(".fixed.py")
    ]
    must_report = sum(rule.code in codes for case in cases for codes in case.expected.values())
    assert must_report > 0, f"{rule.code}: no line marked '# expect: {rule.code}'"
    # A must-not-report line: code that is not marked for this rule (a statement, not a blank
    # line or a comment).
    unmarked = 0
    for case in cases:
        marked = {n for n, codes in {**case.allowed, **case.expected}.items() if rule.code in codes}
        tree = ast.parse(case.path.read_text(encoding="utf-8"))
        unmarked += sum(
            node.lineno not in marked
            for node in ast.walk(tree)
            if isinstance(node, ast.stmt) and not isinstance(node, (ast.Import, ast.ImportFrom))
        )
    assert unmarked > 0, f"{rule.code}: no statement that must not be reported"


def test_no_module_in_the_rules_package_is_outside_the_convention() -> None:
    names = {
        module_name(r.name) for r in all_rules() if r.__module__.startswith("torchlint.rules.")
    }
    modules = {p.stem for p in SOURCE_TREE.rules_package.glob("*.py")} - {"__init__"}
    assert modules - names == set()


def test_no_rule_module_imports_another() -> None:
    for path in SOURCE_TREE.rules_package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        ] + [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert [m for m in imported if m.startswith("torchlint.rules")] == [], path.name
