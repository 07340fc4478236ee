"""Parse one text with LibCST, safely, and say why a text cannot be parsed (TL000 findings).

CPython's parser screens every text first (:func:`screen`): it is bounded and fast, and its
syntax-error messages are the ones users know.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

import libcst as cst

from torchlint.diagnostics import Diagnostic, syntax_error
from torchlint.formfeed import indentation_form_feeds, without_indentation_form_feeds

# LibCST's native parser cannot be stopped once started, and two shapes of input defeat it: about
# 2,000 nested brackets crash it (a segfault: nothing to catch, the process dies), and its time
# grows with the square of an expression's depth (10,000 chained `+`: minutes, then a crash).
# CPython's parser is bounded and many times faster, so it screens every text first.
MAX_PARSE_DEPTH = 1000  # syntax-tree levels; real code stays under 100, LibCST needs ~1 s here
# Brackets LibCST may be given (CPython allows 200): it crashes near 1,300 on a thread's stack.
MAX_BRACKET_DEPTH = 1024
# One line of a megabyte is generated data or minified code, and costs LibCST tens of seconds.
MAX_LINE_CHARS = 1024 * 1024


def parse_module(source: str) -> cst.Module:
    """LibCST's tree of ``source``; raises what LibCST raises."""
    # Form feeds in indentation are parsed as CPython reads them (see formfeed.py).
    return cst.parse_module(without_indentation_form_feeds(source, indentation_form_feeds(source)))


def parses(source: str) -> bool:
    try:
        parse_module(source)
    except Exception:
        return False
    return True


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
    """The tree of ``source``, or the TL000 finding that says why there is none."""
    try:
        return parse_module(source)
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


@dataclass
class Screen:
    compiles: bool  # CPython parses the text
    finding: Diagnostic | None = None  # a TL000 to report whatever LibCST makes of the text
    parse: bool = True  # LibCST may be given the text
    tree: ast.Module | None = None  # CPython's tree, when it parsed the text (reused, not redone)


def _depth(tree: ast.AST, source: str, limit: int = MAX_PARSE_DEPTH) -> int:
    """How deep ``tree`` is nested: exact when over ``limit``, else some number up to ``limit``.

    Each level of a syntax tree takes at least one character of source (an operator, a dot, a
    bracket, an indented line), so a subtree whose lines hold fewer than half the levels left
    before ``limit`` cannot pass it and is not walked: in an ordinary file almost every statement
    is skipped this way, which makes the check cheap enough to run on every editor keystroke.
    """
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    last = len(starts) - 1
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        first, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if first is not None and end is not None:
            span = starts[min(end, last)] - starts[max(first - 1, 0)]
            if depth + 2 * span + 8 <= limit:
                continue
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
    deepest = _depth(tree, source) if depth else 0
    if deepest > MAX_PARSE_DEPTH:
        message = (
            f"file not analysed: its code is nested {deepest} levels deep (an expression such as "
            f"a very long operator chain); torchlint parses up to {MAX_PARSE_DEPTH}"
        )
        return Screen(True, syntax_error(path, message), parse=False)
    return Screen(True, tree=tree)
