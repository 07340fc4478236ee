"""The editor's incremental parse: the same tree, the same findings, less work.

``IncrementalParser`` cuts a text into top-level statements and parses only those it has not seen.
Whatever it returns must be the tree LibCST builds for the whole text (node for node, and the same
code back), or None (the caller then parses the whole text). Findings linted with it must equal
findings linted without it, version after version.
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from test_properties import cst_parses, hypothesmith_programs, torch_programs

from torchlint.config import Settings
from torchlint.engine import lint_source
from torchlint.incremental import IncrementalParser

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(p for p in (ROOT / "fixtures").rglob("*.py"))
RULES = Settings(preview=True).rules


def assert_same_tree(source: str, parser: IncrementalParser | None = None) -> cst.Module | None:
    parser = parser or IncrementalParser(min_lines=0)
    module = parser.parse(source)
    if module is None:
        return None
    whole = cst.parse_module(source)
    assert module.code == source
    assert module.deep_equals(whole)
    for attribute in ("default_indent", "default_newline", "has_trailing_newline", "encoding"):
        assert getattr(module, attribute) == getattr(whole, attribute), attribute
    return module


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fixture_file_parses_to_the_same_tree(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert_same_tree(source)


EDGE_CASES = {
    "comments between statements": (
        "# header\n\nimport torch\n# about f\n\ndef f():\n    x = 1\n    # indented tail\n"
        "# column zero\n\n\n@decorator\n@other(1)\nclass A:\n  y = 2\n# end\n"
    ),
    "statements sharing a line": "a = 1; b = 2\nc = 3; d = 4\n\nif a: pass\nelse:\n    e = 5\n",
    "no final newline": "import torch\n\ndef f():\n    return 1\n\nx = f()",
    "crlf": "import torch\r\n\r\ndef f():\r\n    return 1\r\n\r\nx = f()\r\n",
    "mixed line endings": "import torch\r\n\ndef f():\n    return 1\r\nx = 2\n",
    "tabs": "def f():\n\treturn 1\n\ndef g():\n\treturn 2\n",
    "mixed indentation": "def f():\n  return 1\n\ndef g():\n    return 2\n",
    "continuations": "x = 1 + \\\n    2\ny = (\n  3,\n)\ndef f(\n    a,\n): return a\n",
    "module docstring and future": '"""Doc."""\nfrom __future__ import annotations\n\nx = 1\n',
    "try and match": (
        "try:\n    import torch\nexcept ImportError:\n    torch = None\nfinally:\n    pass\n"
        "match x:\n    case 1:\n        y = 2\n    case _:\n        pass\n"
    ),
    "form feed and blank lines with spaces": "x = 1\n\x0c\ndef f():\n    pass\n    \n\ny = 2\n",
    "trailing comments at the end": "x = 1\ny = 2\n# one\n\n# two\n",
    "nested compound on one line": "for i in x: pass\nwhile y:\n    break\nelse:\n    z = 1\n",
    "only one statement": "import torch\n",
    "comment only": "# nothing here\n",
    "empty": "",
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_parse_to_the_same_tree_or_fall_back(name: str) -> None:
    source = EDGE_CASES[name]
    assert cst_parses(source)
    module = assert_same_tree(source)
    if name in {"only one statement", "comment only", "empty"}:
        assert module is None  # nothing to reuse: the whole parse is as cheap


def test_mixed_indentation_is_either_exact_or_a_whole_parse() -> None:
    # Each chunk would infer its own indentation; the whole text has one default.
    parser = IncrementalParser(min_lines=0)
    module = parser.parse(EDGE_CASES["mixed indentation"])
    assert module is None or module.code == EDGE_CASES["mixed indentation"]


def test_a_syntax_error_falls_back_and_recovers() -> None:
    parser = IncrementalParser(min_lines=0)
    good = "import torch\n\ndef f():\n    return torch.load('x')\n"
    assert assert_same_tree(good, parser) is not None
    assert parser.parse("import torch\n\ndef f(:\n    return 1\n") is None
    assert assert_same_tree(good, parser) is not None


def test_only_the_edited_statement_is_parsed_again() -> None:
    source = (ROOT / "fixtures" / "demo" / "train.py").read_text(encoding="utf-8")
    parser = IncrementalParser(min_lines=0)
    first = assert_same_tree(source, parser)
    assert first is not None
    count = len(first.body)
    lines = source.splitlines(keepends=True)
    middle = len(lines) // 2
    edited = "".join([*lines[:middle], "    # a new comment\n", *lines[middle:]])
    assert assert_same_tree(edited, parser) is not None
    assert parser.reused >= count - 2


def lint(source: str, parser: IncrementalParser | None) -> list:
    return lint_source(source, "train.py", RULES, reuse=parser).diagnostics


def test_findings_with_reuse_equal_findings_without_over_a_session_of_edits() -> None:
    base = (ROOT / "fixtures" / "demo" / "train.py").read_text(encoding="utf-8")
    lines = base.splitlines(keepends=True)
    versions = [
        base,
        "".join([*lines[:10], "# typing a comment\n", *lines[10:]]),
        "".join([*lines[:10], "def helper(:\n", *lines[10:]]),  # broken mid-edit
        "".join([*lines[:10], "def helper():\n    return torch.load('x')\n\n", *lines[10:]]),
        "".join(lines[: len(lines) // 2]),  # half the file deleted
        base.replace("    ", "\t"),  # re-indented with tabs
        base,
    ]
    parser = IncrementalParser(min_lines=0)
    for version in versions:
        assert lint(version, parser) == lint(version, None)


@given(data=st.data())
def test_generated_programs_parse_to_the_same_tree(data: st.DataObject) -> None:
    source = data.draw(hypothesmith_programs("grammar"), label="source")
    assume(cst_parses(source))
    assert_same_tree(source)


@pytest.mark.slow  # generated programs, linted twice each
@given(source=torch_programs())
def test_torch_flavoured_programs_lint_the_same_with_reuse(source: str) -> None:
    parser = IncrementalParser(min_lines=0)
    assert lint(source, parser) == lint(source, None)
    edited = source.replace("\n", "\n# edit\n", 1)
    assume(cst_parses(edited))
    assert lint(edited, parser) == lint(edited, None)
