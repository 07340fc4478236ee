"""Parse successive versions of one document, re-parsing only the top-level statements that changed.

An editor sends a new version of the file on every keystroke, and LibCST's parse of a long module
costs hundreds of milliseconds. An edit almost always falls inside one top-level statement, so the
text is cut into one chunk per top-level statement (CPython's parser, fast and in C, says where
each starts), each chunk is parsed on its own and kept by its text, and the module is put together
from the chunks. The result is the same tree LibCST builds for the whole text (the tests compare
them node for node); whenever that cannot be guaranteed (mixed indentation or line endings between
chunks, a chunk LibCST rejects) the caller parses the whole text instead.

The positions of nodes inside an unchanged statement are kept too (relative to the statement's
first line), so locating findings does not regenerate code that did not change.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import libcst as cst
from libcst.metadata import CodeRange

from torchlint.lines import source_lines
from torchlint.statement_starts import Statement, statement_lines, statement_starts

Located = tuple[Mapping[cst.CSTNode, CodeRange], int]

# Below this size a whole parse is cheap and chunking buys nothing.
MIN_LINES = 200


def _has_indented_block(statement: cst.CSTNode) -> bool:
    """Whether a top-level statement holds an indented block (directly or in a clause)."""
    if not isinstance(statement, cst.BaseCompoundStatement):
        return False
    parts: list[cst.CSTNode | None] = [getattr(statement, "body", None)]
    parts.append(getattr(statement, "orelse", None))
    parts.extend(getattr(statement, "handlers", ()))
    parts.append(getattr(statement, "finalbody", None))
    parts.extend(getattr(statement, "cases", ()))
    for part in parts:
        if part is None:
            continue
        if isinstance(part, cst.IndentedBlock):
            return True
        body = getattr(part, "body", None)
        if isinstance(body, cst.IndentedBlock) or (
            isinstance(part, cst.BaseCompoundStatement) and _has_indented_block(part)
        ):
            return True
    return False


class IncrementalParser:
    """Per-document parse state; not thread-safe (one document, one lint thread)."""

    def __init__(self, min_lines: int = MIN_LINES) -> None:
        self.min_lines = min_lines
        self._chunks: dict[str, cst.Module] = {}
        # (previous chunk, chunk) -> the chunk's first statement with the previous chunk's
        # trailing lines moved in front of it, where the whole-text parse puts them.
        self._joined: dict[tuple[int, int], Statement] = {}
        # statement -> (positions that include its nodes, the statement's first line in them)
        self._positions: dict[int, tuple[cst.CSTNode, Located]] = {}
        self._node_ids: dict[int, tuple[cst.CSTNode, set[int]]] = {}  # statement -> its nodes
        self.starts: list[int] | None = None  # first line of each statement of the last parse
        self.reused = 0  # chunks of the last parse that were not parsed again (for tests/logs)

    def parse(self, source: str, tree: ast.Module | None = None) -> cst.Module | None:
        """The module for ``source``, or None when the caller must parse the whole text.

        ``tree`` is CPython's tree of ``source`` where the caller has it already."""
        self.starts = None
        try:
            module = self._parse(source, tree)
        except Exception:
            module = None  # never worse than parsing the whole text
        if module is None:
            # Positions found in a whole-text tree are never asked for again: keep none.
            self._positions = {}
            self._node_ids = {}
        return module

    def _parse(self, source: str, tree: ast.Module | None) -> cst.Module | None:
        if "\f" in source:
            return None  # form feeds in indentation: the whole parse handles them (formfeed.py)
        if tree is None:
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return None  # the whole parse reports the error
        lines = source_lines(source, keepends=True)
        starts = statement_starts(tree)
        if len(lines) < self.min_lines or len(starts) < 2:
            return None
        # Chunk 0 also holds the file's header; each later chunk starts on its statement's line.
        bounds = [0, *(s - 1 for s in starts[1:]), len(lines)]
        texts = ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
        chunks: list[cst.Module] = []
        reused = 0
        for text in texts:
            chunk = self._chunks.get(text)
            if chunk is None:
                try:
                    chunk = cst.parse_module(text)
                except Exception:
                    return None
            else:
                reused += 1
            chunks.append(chunk)
        module = self._assemble(chunks, texts)
        if module is None:
            return None
        self._chunks = dict(zip(texts, chunks, strict=True))
        live = {id(c) for c in chunks}
        self._joined = {k: v for k, v in self._joined.items() if k[0] in live and k[1] in live}
        statements = {id(s) for s in module.body}
        self._positions = {k: v for k, v in self._positions.items() if k in statements}
        self._node_ids = {k: v for k, v in self._node_ids.items() if k in statements}
        self.starts = statement_lines(module, tree)
        self.reused = reused
        return module

    def _assemble(self, chunks: list[cst.Module], texts: list[str]) -> cst.Module | None:
        first = chunks[0]
        indent: str | None = None
        for chunk, text in zip(chunks, texts, strict=True):
            # Nodes store indentation and line endings only where they differ from the module's
            # defaults, so every chunk must agree with the defaults of the whole text.
            if any(_has_indented_block(s) for s in chunk.body):
                if indent is None:
                    indent = chunk.default_indent
                elif chunk.default_indent != indent:
                    return None
            if ("\n" in text or "\r" in text) and chunk.default_newline != first.default_newline:
                return None
            if chunk is not chunks[-1] and chunk.footer and not chunk.has_trailing_newline:
                return None
        body: list[Statement] = list(first.body)
        for previous, chunk in zip(chunks, chunks[1:], strict=False):
            if not chunk.body:
                return None
            statements = list(chunk.body)
            moved = (*previous.footer, *chunk.header)
            if moved:
                key = (id(previous), id(chunk))
                joined = self._joined.get(key)
                if joined is None:
                    head = statements[0]
                    joined = head.with_changes(leading_lines=(*moved, *head.leading_lines))
                    self._joined[key] = joined
                statements[0] = joined
            body.extend(statements)
        last = chunks[-1]
        return cst.Module(
            body=body,
            header=first.header,
            footer=last.footer,
            encoding=first.encoding,
            default_indent=indent if indent is not None else first.default_indent,
            default_newline=first.default_newline,
            has_trailing_newline=last.has_trailing_newline,
        )

    # -- positions of unchanged statements ---------------------------------------------------------

    def local_positions(self, statement: cst.CSTNode) -> Located | None:
        kept = self._positions.get(id(statement))
        return kept[1] if kept is not None and kept[0] is statement else None

    def keep_positions(self, statement: cst.CSTNode, located: Located) -> None:
        self._positions[id(statement)] = (statement, located)

    def node_ids(self, statement: cst.CSTNode) -> set[int] | None:
        kept = self._node_ids.get(id(statement))
        return kept[1] if kept is not None and kept[0] is statement else None

    def keep_node_ids(self, statement: cst.CSTNode, ids: set[int]) -> None:
        self._node_ids[id(statement)] = (statement, ids)
