"""Lint one source text: parse once, share facts, run every rule in one traversal, fix.

The doors (CLI, LSP, pre-commit, CI reporters) all call :func:`lint_source` / :func:`fix_source`,
or :mod:`torchlint.runner` which applies them to files.
"""

from __future__ import annotations

import ast
import gc
import io
import sys
import tokenize
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange

from torchlint.analysis.facts import TorchFacts
from torchlint.analysis.walk import walk
from torchlint.context import FileContext
from torchlint.diagnostics import (
    Applicability,
    Category,
    Diagnostic,
    Edit,
    Fix,
    Position,
    Severity,
)
from torchlint.fixes import (
    AddImport,
    FixPlan,
    InsertAfter,
    InsertBefore,
    Remove,
    RemoveStatement,
    Replace,
    render,
)
from torchlint.formfeed import indentation_form_feeds, without_indentation_form_feeds
from torchlint.incremental import IncrementalParser
from torchlint.lines import source_lines
from torchlint.positions import node_positions
from torchlint.profiling import phase
from torchlint.registry import RuleRef, load_rules
from torchlint.rule import Report, Rule
from torchlint.suppression import parse_suppressions

SYNTAX_ERROR = ("TL000", "syntax-error")
MAX_FIX_PASSES = 10


@dataclass(frozen=True)
class InternalError:
    path: str
    rule: str
    message: str


@dataclass
class LintOutcome:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    internal_errors: list[InternalError] = field(default_factory=list)
    parsed: bool = True


def syntax_error(path: str, message: str, line: int = 1, column: int = 0) -> Diagnostic:
    code, name = SYNTAX_ERROR
    return Diagnostic(
        code=code,
        name=name,
        message=message,
        severity=Severity.ERROR,
        path=path,
        start=Position(line, column),
        end=Position(line, column),
        category=Category.CORRECTNESS.value,
    )


class _Dispatcher:
    """One traversal that feeds every rule's visit_/leave_ methods and keeps the ancestor stack."""

    def __init__(self, context: FileContext, rules: list[Rule], errors: list[InternalError]):
        self.stack = context.stack
        self.path = context.path
        self.errors = errors
        self.visit_map: dict[str, list[tuple[Rule, Any]]] = {}
        self.leave_map: dict[str, list[tuple[Rule, Any]]] = {}
        self.dead: set[int] = set()
        for rule in rules:
            for kind, node_type, method in rule.bound_visitors():
                target = self.visit_map if kind == "visit" else self.leave_map
                target.setdefault(node_type, []).append((rule, method))

    def run(self, module: cst.Module) -> None:
        walk(module, self.on_visit, self.on_leave)

    def _call(self, rule: Rule, method: Any, node: cst.CSTNode) -> Any:
        if id(rule) in self.dead:
            return None
        try:
            return method(node)
        except RecursionError:
            self._fail(rule, "recursion too deep")
        except Exception as exc:
            self._fail(rule, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}")
        return None

    def _fail(self, rule: Rule, message: str) -> None:
        # One broken rule stops on this file only; every other rule keeps going.
        self.dead.add(id(rule))
        self.errors.append(InternalError(self.path, rule.code, message))

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        handlers = self.visit_map.get(type(node).__name__)
        if handlers:
            for rule, method in handlers:
                self._call(rule, method, node)
        return True

    def on_leave(self, node: cst.CSTNode) -> None:
        handlers = self.leave_map.get(type(node).__name__)
        if handlers:
            for rule, method in handlers:
                self._call(rule, method, node)
        self.stack.pop()


def rules_for_source(source: str, rules: Sequence[type[Rule]]) -> list[type[Rule]]:
    """The rules that can possibly report on ``source`` (the cheap text check before parsing)."""
    return [r for r in rules if not r.needles or any(n in source for n in r.needles)]


def _python_syntax_error(source: str, path: str) -> Diagnostic | None:
    """CPython's own message and location, which users know better than the CST parser's."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        line = exc.lineno or 1
        column = max((exc.offset or 1) - 1, 0)
        return syntax_error(path, f"SyntaxError: {exc.msg}", line, column)
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


def parse(source: str, path: str) -> cst.Module | Diagnostic:
    try:
        # Form feeds in indentation are parsed as CPython reads them (see formfeed.py).
        return cst.parse_module(
            without_indentation_form_feeds(source, indentation_form_feeds(source))
        )
    except cst.ParserSyntaxError as exc:
        friendly = _python_syntax_error(source, path)
        if friendly is not None:
            return friendly
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid syntax"
        return syntax_error(path, f"SyntaxError: {message}", exc.raw_line, exc.raw_column)
    except RecursionError:
        return syntax_error(path, "SyntaxError: expression nested too deeply to parse")
    except Exception as exc:  # the parser's own failures become findings, not tracebacks
        return syntax_error(path, f"SyntaxError: cannot parse file ({type(exc).__name__}: {exc})")


@contextmanager
def deep_recursion() -> Iterator[None]:
    """LibCST's code generation recurses once per nesting level; generated code nests deeply.

    From Python 3.11 pure-Python calls no longer consume the C stack, so a higher limit is safe.
    """
    old = sys.getrecursionlimit()
    if sys.version_info >= (3, 11) and old < 20000:
        sys.setrecursionlimit(20000)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# LibCST's native parser cannot be stopped once started, and two shapes of input defeat it: about
# 2,000 nested brackets crash it (a segfault: nothing to catch, the process dies), and its time
# grows with the square of an expression's depth (10,000 chained `+`: minutes, then a crash).
# CPython's parser is bounded and many times faster, so it screens every text first.
MAX_PARSE_DEPTH = 1000  # syntax-tree levels; real code stays under 100, LibCST needs ~1 s here
# Brackets LibCST may be given (CPython allows 200): it crashes near 1,300 on a thread's stack.
MAX_BRACKET_DEPTH = 1024
# One line of a megabyte is generated data or minified code, and costs LibCST tens of seconds.
MAX_LINE_CHARS = 1024 * 1024


@dataclass
class Screen:
    compiles: bool  # CPython parses the text
    finding: Diagnostic | None = None  # a TL000 to report whatever LibCST makes of the text
    parse: bool = True  # LibCST may be given the text


def _depth(tree: ast.AST) -> int:
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _libcst_copes(source: str) -> bool:
    """For a text CPython refused as nested too deeply: whether LibCST still parses it safely
    (brackets under its crash depth, no statement long enough to take it minutes)."""
    level = deepest = tokens = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.OP and token.string in "([{":
                level += 1
                deepest = max(deepest, level)
            elif token.type == tokenize.OP and token.string in ")]}":
                level -= 1
            tokens = 0 if token.type == tokenize.NEWLINE else tokens + 1
            if deepest > MAX_BRACKET_DEPTH or tokens > 4 * MAX_PARSE_DEPTH:
                return False
    except (tokenize.TokenError, SyntaxError):
        return False
    return True


def screen(source: str, path: str, *, depth: bool = True) -> Screen:
    """CPython's verdict on ``source``: whether LibCST may parse it, and a TL000 to report.

    ``depth=False`` skips measuring the tree's depth: for a text LibCST will not parse anyway
    when CPython accepts it (no rule can match it)."""
    if len(source) > MAX_LINE_CHARS:
        lines = source.splitlines()
        longest = max(range(len(lines)), key=lambda i: len(lines[i]))
        if len(lines[longest]) > MAX_LINE_CHARS:
            message = (
                f"file not analysed: line {longest + 1} is {len(lines[longest]):,} characters "
                f"long (generated or minified code?); torchlint parses lines of up to "
                f"{MAX_LINE_CHARS:,}"
            )
            return Screen(False, syntax_error(path, message, longest + 1), parse=False)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        if not exc.msg.startswith("too many nested parentheses"):
            return Screen(False)  # LibCST decides: it may accept syntax newer than this Python's
        # CPython will not run the file: say so, and lint it too where LibCST can.
        line, column = exc.lineno or 1, max((exc.offset or 1) - 1, 0)
        finding = syntax_error(path, f"SyntaxError: {exc.msg}", line, column)
        return Screen(False, finding, parse=_libcst_copes(source))
    except (RecursionError, MemoryError):
        message = "SyntaxError: nested too deeply: CPython cannot compile this file either"
        return Screen(False, syntax_error(path, message), parse=_libcst_copes(source))
    except ValueError:
        return Screen(False)
    deepest = _depth(tree) if depth else 0
    if deepest > MAX_PARSE_DEPTH:
        message = (
            f"file not analysed: its code is nested {deepest} levels deep (an expression such as "
            f"a very long operator chain); torchlint parses up to {MAX_PARSE_DEPTH}"
        )
        return Screen(True, syntax_error(path, message), parse=False)
    return Screen(True)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A syntax tree is hundreds of thousands of acyclic objects: the cyclic collector would
    rescan them again and again while they are built (measured: a third of the run time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def lint_source(
    source: str,
    path: str,
    rules: Sequence[type[Rule] | RuleRef],
    *,
    torch_version: tuple[int, int] | None = None,
    rule_options: dict[str, dict[str, Any]] | None = None,
    test_code: bool = False,
    apply_suppressions: bool = True,
    reuse: IncrementalParser | None = None,
) -> LintOutcome:
    """Lint one source text with the given rules (classes, or records such as
    ``Settings.rules``); never raises for bad input or a broken rule.

    ``reuse`` is the parse state of earlier versions of the same document (the editor's case):
    unchanged top-level statements are then neither parsed nor located again.
    """
    loaded = load_rules(rules)
    # TL900 (unused-noqa) judges suppressions against every finding made before they apply.
    judge = apply_suppressions and any(rule.code == UNUSED_NOQA for rule in loaded)
    with _no_cyclic_gc():
        outcome = _lint_source(
            source,
            path,
            loaded,
            torch_version=torch_version,
            rule_options=rule_options,
            test_code=test_code,
            apply_suppressions=apply_suppressions and not judge,
            reuse=reuse,
        )
    if judge and outcome.parsed:
        _judge_suppressions(outcome, source, path, loaded, test_code)
    return outcome


UNUSED_NOQA = "TL900"


def _judge_suppressions(
    outcome: LintOutcome, source: str, path: str, rules: Sequence[type[Rule]], test_code: bool
) -> None:
    """Apply the suppressions and add TL900's findings (torchlint/rules/unused_noqa.py)."""
    from torchlint.registry import all_rule_refs
    from torchlint.rules.unused_noqa import unused_suppressions

    enabled = [(r.code, r.name) for r in rules if r.report_in_tests or not test_code]
    known = [(r.code, r.name) for r in all_rule_refs()]
    unused = unused_suppressions(source, path, outcome.diagnostics, enabled, known)
    suppressions = parse_suppressions(source)
    kept = [
        d
        for d in [*outcome.diagnostics, *unused]
        if not suppressions.silences(d.start.line, d.code, d.name)
    ]
    outcome.diagnostics = sorted(kept, key=lambda d: d.sort_key)


def _lint_source(
    source: str,
    path: str,
    rules: Sequence[type[Rule]],
    *,
    torch_version: tuple[int, int] | None = None,
    rule_options: dict[str, dict[str, Any]] | None = None,
    test_code: bool = False,
    apply_suppressions: bool = True,
    reuse: IncrementalParser | None = None,
) -> LintOutcome:
    outcome = LintOutcome()
    if "\x00" in source:
        outcome.diagnostics.append(syntax_error(path, "SyntaxError: source contains null bytes"))
        outcome.parsed = False
        return outcome
    if test_code:
        rules = [rule for rule in rules if rule.report_in_tests]
    candidates = rules_for_source(source, rules)
    with phase("parse"):
        screened = screen(source, path, depth=bool(candidates))
    if screened.finding is not None:
        outcome.diagnostics.append(screened.finding)
        if not screened.parse:
            outcome.parsed = False
            return outcome
    if not candidates:
        # No rule can match, but a broken file is still reported. CPython's parser is far
        # cheaper than LibCST's; LibCST confirms, since it may accept newer syntax.
        if not screened.compiles and screened.finding is None:
            failure = parse(source, path)
            if isinstance(failure, Diagnostic):
                outcome.diagnostics.append(failure)
                outcome.parsed = False
        return outcome
    with phase("parse"):
        module = reuse.parse(source) if reuse is not None else None
        if module is None:
            module = parse(source, path)
    if isinstance(module, Diagnostic):
        if screened.finding is None:  # else CPython's finding says it already
            outcome.diagnostics.append(module)
        outcome.parsed = False
        return outcome
    with phase("facts"):
        facts = TorchFacts(module, source)
    context = FileContext(
        path=path,
        source=source,
        module=module,
        facts=facts,
        torch_version=torch_version,
        rule_options=rule_options or {},
        test_code=test_code,
    )
    reports: list[Report] = []
    instances = [rule(context, reports) for rule in candidates]
    dispatcher = _Dispatcher(context, instances, outcome.internal_errors)
    try:
        with phase("rules"):
            dispatcher.run(module)
    except RecursionError:
        outcome.internal_errors.append(
            InternalError(path, "engine", "code nested too deeply to analyse")
        )
        return outcome
    if not reports:
        return outcome
    try:
        with phase("metadata"), deep_recursion():
            diagnostics = _to_diagnostics(reports, context, reuse)
    except RecursionError:
        outcome.internal_errors.append(
            InternalError(path, "engine", "code nested too deeply to locate its findings")
        )
        return outcome
    if apply_suppressions:
        suppressions = parse_suppressions(source)
        diagnostics = [
            d for d in diagnostics if not suppressions.silences(d.start.line, d.code, d.name)
        ]
    # Beside the screen's TL000, if any (a text CPython refused that LibCST could lint).
    outcome.diagnostics = sorted([*outcome.diagnostics, *diagnostics], key=lambda d: d.sort_key)
    return outcome


# -- turning reports into diagnostics -----------------------------------------------------------


def _nodes_to_locate(reports: list[Report], context: FileContext) -> list[cst.CSTNode]:
    nodes: list[cst.CSTNode] = []
    for report in reports:
        nodes.append(report.node)
        if report.fix is None:
            continue
        for change in report.fix.changes:
            target = getattr(change, "node", None) or getattr(change, "statement", None)
            if target is not None:
                nodes.append(target)
            elif isinstance(change, AddImport):
                anchor = _import_anchor(context)
                if anchor is not None:
                    nodes.append(anchor)
    return nodes


def _to_diagnostics(
    reports: list[Report], context: FileContext, reuse: IncrementalParser | None = None
) -> list[Diagnostic]:
    wanted = _nodes_to_locate(reports, context)
    positions = node_positions(context.module, context.source, wanted, reuse)
    lines = _LineTable(context.source)
    out: list[Diagnostic] = []
    seen: set[tuple[str, int, int]] = set()
    for report in reports:
        where: CodeRange = positions[report.node]
        key = (report.rule.code, where.start.line, where.start.column)
        if key in seen:
            continue  # a node reached twice (through a closure, say) is reported once
        seen.add(key)
        fix = None
        if report.fix is not None:
            fix = _materialize(report.fix, positions, context, lines)
        out.append(
            Diagnostic(
                code=report.rule.code,
                name=report.rule.name,
                message=report.message,
                severity=report.rule.severity,
                path=context.path,
                start=Position(where.start.line, where.start.column),
                end=Position(where.end.line, where.end.column),
                fix=fix,
                category=report.rule.category.value,
                suggestion=report.suggestion,
            )
        )
    return out


class _LineTable:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source_lines(source, keepends=True)

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def after_line(self, line: int) -> Position:
        """The position just past the end of ``line``, newline included."""
        if line < len(self.lines):
            return Position(line + 1, 0)
        last = self.line_text(line)
        return Position(line, len(last))


def _materialize(
    plan: FixPlan, positions: Any, context: FileContext, lines: _LineTable
) -> Fix | None:
    edits: list[Edit] = []
    newline = context.module.default_newline
    for change in plan.changes:
        if isinstance(change, Replace):
            where = positions[change.node]
            text = (
                change.new
                if isinstance(change.new, str)
                else render(_inside_parens(change.node, change.new), context.module, change.indent)
            )
            edits.append(_edit(where.start, where.end, text))
        elif isinstance(change, Remove):
            where = positions[change.node]
            edits.append(_edit(where.start, where.end, ""))
        elif isinstance(change, InsertBefore):
            where = positions[change.statement]
            line = where.start.line - _leading_line_count(change.statement)
            indent = lines.line_text(where.start.line)[: where.start.column]
            at = Position(line, 0)
            edits.append(Edit(at, at, f"{indent}{change.code}{newline}"))
        elif isinstance(change, InsertAfter):
            where = positions[change.statement]
            indent = lines.line_text(where.start.line)[: where.start.column]
            at = lines.after_line(where.end.line)
            last = lines.line_text(where.end.line)
            lead = "" if last.endswith(("\n", "\r")) else newline  # the file's last line
            edits.append(Edit(at, at, f"{lead}{indent}{change.code}{newline}"))
        elif isinstance(change, RemoveStatement):
            where = positions[change.statement]
            start = Position(where.start.line, 0)
            end = lines.after_line(where.end.line)
            indent = lines.line_text(where.start.line)[: where.start.column]
            text = f"{indent}pass{newline}" if change.replace_with_pass else ""
            edits.append(Edit(start, end, text))
        elif isinstance(change, AddImport):
            edit = _import_edit(change.module, positions, context, newline)
            if edit is not None:
                edits.append(edit)
    if not edits:
        return None
    return Fix(title=plan.title, edits=tuple(edits), applicability=plan.applicability)


def _inside_parens(old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode:
    """``new`` without the parentheses it shares with ``old``.

    An expression's position excludes its own parentheses (``(x)`` is located at ``x``), so a
    replacement built from ``old`` with ``with_changes`` would bring them in a second time.
    """
    if not isinstance(old, cst.BaseExpression) or not isinstance(new, cst.BaseExpression):
        return new  # e.g. ``from x import (a, b)``: those parentheses are part of the node
    old_left, old_right = getattr(old, "lpar", ()), getattr(old, "rpar", ())
    new_left, new_right = getattr(new, "lpar", ()), getattr(new, "rpar", ())
    count = len(old_left)
    if not count or len(old_right) != count or len(new_left) < count or len(new_right) < count:
        return new
    same = all(a.deep_equals(b) for a, b in zip(old_left, new_left[:count], strict=True)) and all(
        a.deep_equals(b) for a, b in zip(old_right, new_right[-count:], strict=True)
    )
    if not same:
        return new
    return new.with_changes(lpar=new_left[count:], rpar=new_right[:-count])


def _edit(start: Any, end: Any, text: str) -> Edit:
    return Edit(Position(start.line, start.column), Position(end.line, end.column), text)


def _leading_line_count(statement: cst.CSTNode) -> int:
    return len(getattr(statement, "leading_lines", ()))


def _import_edit(
    module_name: str, positions: Any, context: FileContext, newline: str
) -> Edit | None:
    top = module_name.split(".")[0]
    if context.facts.names.aliases.get(top) == top:
        return None  # ``import torch`` (or ``import torch.x``) already binds the name
    anchor = _import_anchor(context)
    text = f"import {module_name}{newline}"
    if anchor is None:
        source = context.source
        tail = "" if not source or source.endswith(("\n", "\r")) else newline
        all_lines = source_lines(source)
        end_line = len(all_lines) or 1
        last = all_lines[-1] if all_lines else ""
        at = Position(end_line, len(last))
        return Edit(at, at, tail + text)
    where = positions[anchor]
    is_import = isinstance(anchor, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in anchor.body
    )
    # Join an import block directly; above code, go above its comments and blank lines.
    line = where.start.line if is_import else where.start.line - _leading_line_count(anchor)
    at = Position(line, 0)
    return Edit(at, at, text)


def _import_anchor(context: FileContext) -> cst.CSTNode | None:
    """The statement a new import goes before: the first after the docstring and __future__."""
    for index, statement in enumerate(context.module.body):
        if _is_docstring(statement) and index == 0:
            continue
        if _is_future_import(statement):
            continue
        return statement
    return None


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_future_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, cst.ImportFrom)
        and s.module is not None
        and isinstance(s.module, cst.Name)
        and s.module.value == "__future__"
        for s in statement.body
    )


# -- applying fixes -------------------------------------------------------------------------------


def _offsets(source: str) -> list[int]:
    starts = [0]
    for line in source_lines(source, keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _offset(starts: list[int], position: Position) -> int:
    line_index = min(max(position.line - 1, 0), len(starts) - 1)
    return min(starts[line_index] + position.column, starts[-1])


def apply_edits(source: str, edits: Sequence[Edit]) -> str:
    starts = _offsets(source)
    spans = sorted(
        ((_offset(starts, e.start), _offset(starts, e.end), e.content) for e in edits),
        key=lambda s: (s[0], s[1]),
        reverse=True,
    )
    text = source
    for begin, end, content in spans:
        text = text[:begin] + content + text[end:]
    return text


def _spans(fix: Fix, starts: list[int]) -> list[tuple[int, int]]:
    return [(_offset(starts, e.start), _offset(starts, e.end)) for e in fix.edits]


def _overlaps(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    for s1, e1 in a:
        for s2, e2 in b:
            if s1 < e2 and s2 < e1:
                return True
            if s1 == s2 and (s1 == e1 or s2 == e2):
                return True  # two insertions at one point: order would be arbitrary
    return False


def _parses(source: str) -> bool:
    try:
        cst.parse_module(without_indentation_form_feeds(source, indentation_form_feeds(source)))
    except Exception:
        return False
    return True


@dataclass
class FixPass:
    """One lint of the fix loop: the text it read, what it found, the fixes applied from it."""

    source: str
    lint: LintOutcome
    applied: list[Diagnostic] = field(default_factory=list)


@dataclass
class FixOutcome:
    source: str
    applied: list[Diagnostic] = field(default_factory=list)
    remaining: LintOutcome = field(default_factory=LintOutcome)
    converged: bool = True
    rejected: list[Diagnostic] = field(default_factory=list)  # fixes dropped: output did not parse
    # Every lint the loop ran, in order, with the fixes it applied from it: the record of how the
    # fixed text came about (the property tests check every pass, not only the end result).
    passes: list[FixPass] = field(default_factory=list)


def fix_source(
    source: str,
    path: str,
    rules: Sequence[type[Rule] | RuleRef],
    *,
    unsafe: bool = False,
    torch_version: tuple[int, int] | None = None,
    rule_options: dict[str, dict[str, Any]] | None = None,
    test_code: bool = False,
) -> FixOutcome:
    """Apply fixes until none is left (bounded); every kept fix leaves code that parses."""
    rules = load_rules(rules)
    outcome = FixOutcome(source=source)
    current = source
    rejected_keys: set[tuple[str, int, int, tuple[Edit, ...]]] = set()

    def lint(text: str) -> LintOutcome:
        return lint_source(
            text,
            path,
            rules,
            torch_version=torch_version,
            rule_options=rule_options,
            test_code=test_code,
        )

    for _ in range(MAX_FIX_PASSES):
        result = lint(current)
        outcome.remaining = result
        step = FixPass(current, result)
        outcome.passes.append(step)
        fixable = [
            d
            for d in result.diagnostics
            if d.fix is not None
            and d.fix.is_applied_with(unsafe)
            and (d.code, d.start.line, d.start.column, d.fix.edits) not in rejected_keys
        ]
        if not fixable:
            outcome.source = current
            return outcome
        starts = _offsets(current)
        chosen: list[Diagnostic] = []
        taken: list[tuple[int, int]] = []
        for diagnostic in fixable:
            assert diagnostic.fix is not None
            spans = _spans(diagnostic.fix, starts)
            if _overlaps(spans, taken):
                continue  # the other fix comes on the next pass
            chosen.append(diagnostic)
            taken.extend(spans)
        candidate = apply_edits(current, [e for d in chosen for e in d.fix.edits])  # type: ignore[union-attr]
        if not _parses(candidate):
            # Find the culprits one by one; keep the fixes that parse on their own.
            candidate = current
            kept: list[Diagnostic] = []
            for diagnostic in chosen:
                attempt = apply_edits(
                    current,
                    [e for d in kept + [diagnostic] for e in d.fix.edits],  # type: ignore[union-attr]
                )
                if _parses(attempt):
                    kept.append(diagnostic)
                    candidate = attempt
                else:
                    rejected_keys.add(
                        (
                            diagnostic.code,
                            diagnostic.start.line,
                            diagnostic.start.column,
                            diagnostic.fix.edits,
                        )  # type: ignore[union-attr]
                    )
                    outcome.rejected.append(diagnostic)
            chosen = kept
            if not chosen:
                continue
        outcome.applied.extend(chosen)
        step.applied = chosen
        current = candidate
    outcome.source = current
    final = lint(current)
    outcome.remaining = final
    outcome.passes.append(FixPass(current, final))
    outcome.converged = not any(
        d.fix is not None and d.fix.is_applied_with(unsafe) for d in final.diagnostics
    )
    return outcome


__all__ = [
    "Applicability",
    "FixOutcome",
    "InternalError",
    "LintOutcome",
    "apply_edits",
    "fix_source",
    "lint_source",
]
