"""Property tests: generated programs never crash the linter, and fixes keep them valid.

Two sources of programs:

- hypothesmith's grammar-based generator (any valid Python, rarely torch-like);
- PyTorch-flavoured programs composed from the fixture files: top-level statements picked at
  random, reordered, renamed, nested into a ``def``/loop/``with``/class, with ``noqa`` comments.

Properties, for every program:

1. linting with every rule (preview included) never raises and reports no internal error, and
   every finding and fix edit lies inside the file;
2. with unsafe fixes on, every fix the engine applies leaves code that parses (LibCST, and CPython
   when the input compiled), no fix is rejected, the fix loop converges, and a second fix run
   changes nothing;
3. safe fixes edit only what they say they edit: after every fix pass, each *untouched* node (see
   :func:`untouched_nodes_survive`) reappears at its shifted place with the same AST.

The default profile ("ci") keeps the example counts small. The long run (see docs/robustness.md):

    HYPOTHESIS_PROFILE=long python -m pytest -q tests/test_properties.py
"""

from __future__ import annotations

import ast
import keyword
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from torchlint.diagnostics import Applicability, Edit, Position
from torchlint.engine import FixOutcome, LintOutcome, apply_edits, fix_source
from torchlint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "fixtures" / "cases"
PATH = "generated.py"

_COMMON = {
    "deadline": None,  # timings on a shared CI machine are noise
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,  # hypothesmith gives up on deep draws ("max depth exceeded")
    ],
}
settings.register_profile("ci", max_examples=12, **_COMMON)
settings.register_profile("dev", max_examples=200, **_COMMON)
settings.register_profile("long", max_examples=10_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The engine once numbered lines with ``str.splitlines``, which also breaks at \x0b, \x0c,
# \x1c-\x1e, \x85, \u2028 and \u2029 (Python and LibCST break only at \n, \r and \r\n), so a form
# feed or a \u2028 in a comment moved every later fix edit; hypothesmith found it through such
# comments. Set this to True to keep those characters out of the generated programs again.
KNOWN_BUG_ODD_LINE_BREAKS = False
ODD_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def without_known_bugs(source: str) -> bool:
    return not (KNOWN_BUG_ODD_LINE_BREAKS and any(c in source for c in ODD_BREAKS))


@lru_cache(maxsize=1)
def every_rule() -> tuple[type, ...]:
    return tuple(all_rules())


# -- small helpers --------------------------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class LineTable:
    """Character offsets of (line, column) positions, lines broken the way Python breaks them."""

    def __init__(self, source: str) -> None:
        self.lines = _LINE.findall(source)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, position: Position) -> int:
        """Engine positions: 1-based line, 0-based column in characters."""
        index = min(max(position.line - 1, 0), len(self.lines))
        return min(self.starts[index] + position.column, self.starts[-1])

    def ast_offset(self, line: int, byte_column: int) -> int:
        """CPython positions: 1-based line, 0-based column in UTF-8 bytes."""
        if line - 1 >= len(self.lines):
            return self.starts[-1]
        text = self.lines[line - 1]
        column = (
            byte_column
            if text.isascii()
            else len(text.encode("utf-8")[:byte_column].decode("utf-8", errors="replace"))
        )
        return self.starts[line - 1] + column


def compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "'int' object is not callable" and the like
            compile(source, PATH, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def cst_parses(source: str) -> bool:
    try:
        cst.parse_module(source)
    except Exception:
        return False
    return True


def _note(text: str) -> None:
    """``hypothesis.note`` inside a property test; nothing in a plain one."""
    try:
        note(text)
    except InvalidArgument:
        pass


def describe(diagnostics: list) -> str:
    return ", ".join(f"{d.code}@{d.start.line}:{d.start.column}" for d in diagnostics)


# -- what the fix loop did, pass by pass ---------------------------------------------------------


def pass_edits(outcome: FixOutcome) -> list[tuple[str, list[Edit], str]]:
    """(source before, edits applied in that pass, source after) for every pass that edited."""
    out = []
    for before, after in zip(outcome.passes, outcome.passes[1:], strict=False):
        edits = [e for d in before.applied for e in d.fix.edits]
        if not edits:
            assert after.source == before.source
            continue
        assert all(any(d is other for other in before.lint.diagnostics) for d in before.applied)
        assert apply_edits(before.source, edits) == after.source
        out.append((before.source, edits, after.source))
    applied = [d for step in outcome.passes for d in step.applied]
    assert len(applied) == len(outcome.applied)
    assert all(d is other for d, other in zip(applied, outcome.applied, strict=True))
    return out


# -- the properties -------------------------------------------------------------------------------


def check_lint_result(source: str, result: LintOutcome) -> None:
    assert not result.internal_errors, "\n".join(
        f"{e.rule}: {e.message}" for e in result.internal_errors
    )
    table = LineTable(source)
    last_line = len(table.lines) + 1
    for d in result.diagnostics:
        assert 1 <= d.start.line <= last_line and d.start <= d.end, d
        if d.fix is None:
            continue
        spans = []
        for edit in d.fix.edits:
            assert edit.start <= edit.end, (d.code, edit)
            assert 1 <= edit.start.line and edit.end.line <= last_line, (d.code, edit)
            spans.append((table.offset(edit.start), table.offset(edit.end)))
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start, f"{d.code}: the edits of one fix overlap: {d.fix.edits}"


def check_unsafe_fixes(source: str) -> FixOutcome:
    rules = every_rule()
    outcome = fix_source(source, PATH, rules, unsafe=True)
    assert outcome.passes and outcome.passes[0].source == source
    assert outcome.passes[-1].source == outcome.source
    for step in outcome.passes:
        check_lint_result(step.source, step.lint)
    _note(f"fixed (unsafe):\n{outcome.source}")
    assert not outcome.rejected, f"fixes whose result does not parse: {describe(outcome.rejected)}"
    assert outcome.converged, f"fixes did not converge; applied {describe(outcome.applied)}"
    assert cst_parses(outcome.source)
    if compiles(source):
        assert compiles(outcome.source), (
            f"CPython rejects the fixed code; applied {describe(outcome.applied)}"
        )
    again = fix_source(outcome.source, PATH, rules, unsafe=True)
    assert not again.applied, f"a second --fix still applied {describe(again.applied)}"
    assert again.source == outcome.source
    return outcome


def check_safe_fixes(source: str) -> None:
    outcome = fix_source(source, PATH, every_rule(), unsafe=False)
    assert all(d.fix.applicability is Applicability.SAFE for d in outcome.applied)
    for before, edits, after in pass_edits(outcome):
        untouched_nodes_survive(before, edits, after)


# A node is *touched* by an edit when the edit replaces any of its text, or inserts text strictly
# inside it. After a pass, every maximal untouched node of the old program (an untouched node whose
# parent is touched; the module itself is always touched) must reappear in the new program at its
# old span shifted by the edits before it, with the same ``ast.dump`` and inside the same chain of
# enclosing statements (same statement types, same field: body/orelse/handlers/...). Everything a
# safe fix changes is therefore inside the text it says it edits: no edit lands at a wrong offset,
# re-parents a neighbouring statement (an indentation slip) or turns the code after it into
# something else (an unclosed bracket or string). The text of f-strings is not split further:
# CPython's positions inside them are unreliable before 3.12.

Span = tuple[int, int]


_ONLY_BLANKS_AND_COMMENTS = re.compile(r"(?:\s|\\\n|#[^\n]*)*")


def _touched(span: Span, edits: list[tuple[int, int, str]], source: str) -> bool:
    start, end = span
    for begin, stop, _ in edits:
        if begin < stop:
            if begin < end and start < stop:
                return True
        elif start < begin < end:
            return True
        # An insertion right after a block's last line (only blanks and comments between) can
        # legitimately extend that block: a statement appended to a body ends its enclosing
        # `def`/`class` later than before.
        elif start < begin and _ONLY_BLANKS_AND_COMMENTS.fullmatch(source, end, begin):
            return True
    return False


def _shift(offset: int, edits: list[tuple[int, int, str]]) -> int:
    return offset + sum(len(text) - (stop - begin) for begin, stop, text in edits if stop <= offset)


def _span(node: ast.AST, table: LineTable) -> Span | None:
    if getattr(node, "end_lineno", None) is None or not hasattr(node, "lineno"):
        return None
    # A decorated definition starts at `def`/`class`; its decorators, its children, come before.
    decorators = getattr(node, "decorator_list", None)
    first_line = decorators[0].lineno if decorators else node.lineno
    return (
        table.ast_offset(first_line, node.col_offset),
        table.ast_offset(node.end_lineno, node.end_col_offset),
    )


def _nodes(
    node: ast.AST, chain: tuple[str, ...], descend: Callable[[ast.AST], bool]
) -> Iterator[tuple[ast.AST, tuple[str, ...]]]:
    """Every node under ``node`` with its statement chain: for each statement on the way down,
    its parent's type and the field holding it (``For.body``, ``If.orelse``...)."""
    for field, value in ast.iter_fields(node):
        for child in value if isinstance(value, list) else [value]:
            if not isinstance(child, ast.AST):
                continue
            inner = chain
            if isinstance(child, (ast.stmt, ast.excepthandler)):
                inner = (*chain, f"{type(node).__name__}.{field}")
            yield child, inner
            if descend(child):
                yield from _nodes(child, inner, descend)


def _maximal_untouched(
    tree: ast.Module, table: LineTable, edits: list[tuple[int, int, str]], source: str
) -> Iterator[tuple[ast.AST, Span, tuple[str, ...]]]:
    def touched(node: ast.AST) -> bool:
        span = _span(node, table)
        return span is None or _touched(span, edits, source)

    for node, chain in _nodes(tree, (), lambda n: touched(n) and not isinstance(n, ast.JoinedStr)):
        span = _span(node, table)
        if span is not None and not _touched(span, edits, source):
            yield node, span, chain


def untouched_nodes_survive(before: str, edits: list[Edit], after: str) -> None:
    old_table, new_table = LineTable(before), LineTable(after)
    offsets = sorted((old_table.offset(e.start), old_table.offset(e.end), e.content) for e in edits)
    old_tree, new_tree = ast.parse(before), ast.parse(after)
    found: dict[tuple[Span, tuple[str, ...]], list[ast.AST]] = {}
    for node, chain in _nodes(new_tree, (), lambda n: True):
        span = _span(node, new_table)
        if span is not None:
            found.setdefault((span, chain), []).append(node)
    for node, (start, end), chain in _maximal_untouched(old_tree, old_table, offsets, before):
        image = (_shift(start, offsets), _shift(start, offsets) + (end - start))
        expected = ast.dump(node)
        candidates = [ast.dump(other) for other in found.get((image, chain), [])]
        assert expected in candidates, (
            f"a safe fix changed code outside its edits: {before[start:end]!r} at "
            f"offset {start} became {[after[image[0] : image[1]]]} (edits: {edits})"
        )


def check_program(source: str, *, safe_ast: bool = True) -> None:
    _note(f"program:\n{source}")
    assert cst_parses(source), "the generators make programs that parse"
    outcome = check_unsafe_fixes(source)
    _event(f"findings: {_bucket(len(outcome.applied) + len(outcome.remaining.diagnostics))}")
    _event(f"unsafe-mode fixes applied: {_bucket(len(outcome.applied))}")
    for code in sorted({d.code for d in outcome.applied}):
        _event(f"fixed {code}")
    if safe_ast:
        check_safe_fixes(source)


def _bucket(count: int) -> str:
    return "0" if count == 0 else "1-4" if count < 5 else "5+"


def _event(text: str) -> None:
    try:
        event(text)
    except InvalidArgument:
        pass


# -- strategy 1: hypothesmith ---------------------------------------------------------------------


@lru_cache(maxsize=3)
def hypothesmith_programs(kind: str, *, auto_target: bool = True) -> st.SearchStrategy[str]:
    """Built once: each ``from_grammar()`` call compiles the Python grammar again (seconds).

    ``auto_target`` steers the whole test towards bigger hypothesmith programs; inside the
    PyTorch-flavoured programs it is off, or the search stops caring about the torch snippets.
    """
    import hypothesmith  # in the test extra; imported here because importing it is slow

    if kind == "grammar":
        return hypothesmith.from_grammar(auto_target=auto_target)
    return hypothesmith.from_node(auto_target=auto_target)


@given(data=st.data())
def test_grammar_programs(data: st.DataObject) -> None:
    source = data.draw(hypothesmith_programs("grammar"), label="source")
    assume(cst_parses(source) and without_known_bugs(source))
    check_program(source)


@pytest.mark.slow  # generated syntax trees
@given(data=st.data())
def test_cst_node_programs(data: st.DataObject) -> None:
    source = data.draw(hypothesmith_programs("node"), label="source")
    assume(cst_parses(source) and without_known_bugs(source))
    check_program(source, safe_ast=compiles(source))


# -- strategy 2: PyTorch-flavoured programs from the fixture snippets -----------------------------


@dataclass(frozen=True)
class Snippets:
    imports: tuple[str, ...]
    statements: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def reported(self) -> tuple[str, ...]:
        """The statements holding a finding (``# expect:``), drawn as often as all the others."""
        return tuple(s for s in self.statements if "# expect:" in s)


@lru_cache(maxsize=1)
def snippets() -> Snippets:
    imports: dict[str, None] = {}
    statements: dict[str, None] = {}
    names: set[str] = set()
    for path in sorted(CASES.glob("*/*.py")):
        module = cst.parse_module(path.read_text(encoding="utf-8"))
        for statement in module.body:
            code = module.code_for_node(statement.with_changes(leading_lines=()))
            if isinstance(statement, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body
            ):
                if "__future__" not in code:
                    imports.setdefault(code)
            else:
                statements.setdefault(code)
        names.update(_names(module))
    names = {n for n in names if not keyword.iskeyword(n)}  # LibCST's `True` is a Name
    return Snippets(tuple(imports), tuple(statements), tuple(sorted(names)))


def _names(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            found.add(node.value)

    node.visit(Collect())
    return found


class Rename(cst.CSTTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.mapping.get(updated.value, updated.value))


class Annotate(cst.CSTTransformer):
    """Put a comment at the end of the chosen simple statement lines (by index)."""

    def __init__(self, comments: dict[int, str]) -> None:
        self.comments = comments
        self.index = -1

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        self.index += 1
        text = self.comments.get(self.index)
        if text is None:
            return updated
        return updated.with_changes(
            trailing_whitespace=cst.TrailingWhitespace(
                whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text)
            )
        )


WRAPPERS = (
    "def wrapped(model, optimizer, loader, criterion):\n    pass\n",
    "async def wrapped(model, optimizer, loader):\n    pass\n",
    "for epoch in range(3):\n    pass\n",
    "for batch in loader:\n    pass\n",
    "while not done:\n    pass\n",
    "with torch.no_grad():\n    pass\n",
    "if __name__ == '__main__':\n    pass\n",
    "class Wrapped(nn.Module):\n    pass\n",
    "try:\n    pass\nexcept Exception:\n    raise\n",
)

POOL = (
    "model", "net", "module", "optimizer", "opt", "optim", "scheduler", "loss", "losses",
    "criterion", "loss_fn", "loader", "train_loader", "batch", "x", "y", "inputs", "targets",
    "outputs", "logits", "step", "zero_grad", "backward", "torch", "nn", "F", "self", "device",
    "scaler", "epoch", "i", "_", "data", "item", "cuda", "to", "load", "save",
)  # fmt: skip

identifiers = st.one_of(
    st.sampled_from(POOL),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(
        lambda s: not keyword.iskeyword(s)
    ),
)


def wrap(code: str, wrapper: str) -> str:
    body = cst.parse_module(code).body
    outer = cst.parse_module(wrapper).body[0]
    assert isinstance(outer, cst.BaseCompoundStatement)
    return cst.Module(body=[outer.with_changes(body=cst.IndentedBlock(body=body))]).code


@st.composite
def torch_programs(draw: st.DrawFn) -> str:
    pool = snippets()
    imports = draw(st.lists(st.sampled_from(pool.imports), max_size=6, unique=True))
    if draw(st.integers(0, 3)):
        imports = ["import torch\n", "from torch import nn\n", *imports]
    parts = []
    statement = st.one_of(st.sampled_from(pool.reported), st.sampled_from(pool.statements))
    for code in draw(st.lists(statement, min_size=1, max_size=4)):
        wrapper = draw(st.one_of(st.none(), st.sampled_from(WRAPPERS)))
        parts.append(code if wrapper is None else wrap(code, wrapper))
    if draw(st.integers(0, 9)) == 0:
        parts.insert(
            draw(st.integers(0, len(parts))),
            draw(hypothesmith_programs("grammar", auto_target=False)),
        )
    source = (
        "".join(imports) + "\n" + "\n\n".join(p if p.endswith("\n") else p + "\n" for p in parts)
    )
    assume(cst_parses(source))
    module = cst.parse_module(source)

    names = sorted(n for n in _names(module) if not keyword.iskeyword(n))
    renames = {}
    if names:  # a program of bare `pass` / `...` statements has none to rename
        renames = draw(
            st.dictionaries(
                st.sampled_from(names), st.one_of(st.sampled_from(names), identifiers), max_size=4
            )
        )
    if renames:
        module = module.visit(Rename(renames))

    lines = len(re.findall(r"\n", module.code))
    marker = st.one_of(
        st.just("# noqa"),
        st.builds(lambda r: f"# noqa: {r.code}", st.sampled_from(every_rule())),
        st.builds(lambda r: f"# torchlint: ignore[{r.name}]", st.sampled_from(every_rule())),
        st.builds(lambda r: f"# noqa:{r.code},TL000", st.sampled_from(every_rule())),
    )
    comments = draw(st.dictionaries(st.integers(0, max(lines, 1)), marker, max_size=3))
    if comments:
        module = module.visit(Annotate(comments))
    source = module.code

    if not KNOWN_BUG_ODD_LINE_BREAKS and draw(st.integers(0, 4)) == 0:
        # A comment line holding characters str.splitlines() breaks at, but Python does not.
        program_lines = source.splitlines(keepends=True)
        at = draw(st.integers(0, len(program_lines)))
        odd = draw(st.sampled_from(ODD_BREAKS))
        candidate = "".join([*program_lines[:at], f"#{odd} page {odd}\n", *program_lines[at:]])
        if cst_parses(candidate) and compiles(candidate) == compiles(source):
            source = candidate
    assume(cst_parses(source) and without_known_bugs(source))
    return source


@pytest.mark.slow  # generated programs, fixed and re-linted
@given(source=torch_programs())
def test_torch_programs(source: str) -> None:
    check_program(source)


# -- pinned examples ------------------------------------------------------------------------------


def test_every_fixture_file_has_the_properties() -> None:
    """The snippets' sources themselves (cheap to keep: the fixture tests lint them anyway)."""
    for path in sorted(CASES.glob("*/*.py"))[::7]:
        check_program(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("odd", ODD_BREAKS)
def test_odd_line_breaks(odd: str) -> None:
    source = (
        f"import torch\n#{odd}page\n"
        "a.load_state_dict(torch.load(p))\nb.load_state_dict(torch.load(q))\n"
    )
    outcome = fix_source(source, PATH, every_rule(), unsafe=True)
    assert outcome.source == (
        f"import torch\n#{odd}page\n"
        "a.load_state_dict(torch.load(p, weights_only=True))\n"
        "b.load_state_dict(torch.load(q, weights_only=True))\n"
    )


def test_the_safe_fix_check_catches_a_misplaced_edit() -> None:
    before = "x = f(a)\nif c:\n    y = 1\n    z = 2\n"
    good = [Edit(Position(1, 4), Position(1, 8), "g(a)")]
    untouched_nodes_survive(before, good, apply_edits(before, good))
    # Deleting the indentation of `z = 2` takes it out of the `if`: caught although `z = 2` itself
    # is textually the same.
    bad = [Edit(Position(4, 0), Position(4, 4), "")]
    with pytest.raises(AssertionError, match="outside its edits"):
        untouched_nodes_survive(before, bad, apply_edits(before, bad))
    # Edits that turn the code between them into a string.
    runaway = [
        Edit(Position(1, 4), Position(1, 4), '"""'),
        Edit(Position(4, 9), Position(4, 9), '"""'),
    ]
    with pytest.raises(AssertionError, match="outside its edits"):
        untouched_nodes_survive(before, runaway, apply_edits(before, runaway))
