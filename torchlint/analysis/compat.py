"""Version-compatibility code: places where old spellings are used on purpose.

Code that supports several torch releases often reaches for the old API only when the new one is
missing::

    try:
        from torch.amp import GradScaler
    except ImportError:
        from torch.cuda.amp import GradScaler

    if hasattr(torch, "func"):
        vmap = torch.func.vmap
    else:
        vmap = functorch.vmap

A node is in a COMPAT BRANCH when it sits

- in an ``except`` handler that catches ``ImportError``, ``ModuleNotFoundError``,
  ``AttributeError`` (alone or in a tuple), or in a bare ``except:``; or
- after an ``if`` of that kind without ``else`` whose body returns or raises (the rest of the
  function is then its ``else``); or
- in either branch of an ``if`` (or conditional expression) whose test calls ``hasattr(...)`` or
  mentions a name or attribute containing ``version`` (``torch.__version__``, ``TORCH_VERSION``,
  ``version.parse(...)``, ``is_torch_version(...)``...), or a version flag: a name that compares
  releases (``_TORCH_GREATER_EQUAL_2_4``, ``is_torch_greater_or_equal(...)``) or pairs ``torch``
  with a number (``TORCH_2_1``, ``PT_GE_2``).

Deprecated-API rules do not report there: the author already knows about both spellings.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.analysis.walk import PathUp

_COMPARING_WORDS = frozenset({"greater", "less", "newer", "older", "ge", "gt", "le", "lt", "gte"})


def _is_version_flag(name: str) -> bool:
    """``_TORCH_GREATER_EQUAL_2_4``, ``is_torch_greater_or_equal``, ``TORCH_2_1``, ``PT_GE_2``."""
    words = [w for w in name.lower().split("_") if w]
    about_torch = "torch" in words or "pt" in words or "pytorch" in words
    numbered = any(w.isdigit() for w in words)
    return (about_torch and numbered) or (
        any(w in _COMPARING_WORDS for w in words) and (about_torch or numbered)
    )


_COMPAT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})


def _catches(handler: cst.ExceptHandler, errors: frozenset[str], *, bare: bool) -> bool:
    """Whether the handler names one of ``errors`` (``bare``: what a bare ``except:`` counts as)."""
    kind = handler.type
    if kind is None:
        return bare
    candidates = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    for candidate in candidates:
        name = dotted_name(candidate)
        if name is not None and name.rsplit(".", 1)[-1] in errors:
            return True
    return False


def _catches_compat_error(handler: cst.ExceptHandler) -> bool:
    return _catches(handler, _COMPAT_ERRORS, bare=True)


def _mentions_version(test: cst.BaseExpression) -> bool:
    """Whether a (small) test expression calls ``hasattr`` or names something ``*version*``."""
    pending: list[cst.CSTNode] = [test]
    seen = 0
    while pending and seen < 200:
        node = pending.pop()
        seen += 1
        if isinstance(node, cst.Name):
            if "version" in node.value.lower() or node.value == "hasattr":
                return True
            if _is_version_flag(node.value):
                return True
        elif isinstance(node, cst.SimpleString) and "version" in node.value.lower():
            return True
        pending.extend(node.children)
    return False


def _exits(block: cst.BaseSuite) -> bool:
    """Whether a block always leaves its function (its last statement returns or raises)."""
    if not isinstance(block, cst.IndentedBlock) or not block.body:
        return False
    last = block.body[-1]
    return isinstance(last, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Return, cst.Raise)) for s in last.body
    )


# Per block of the file being linted: the block itself (kept alive, so its id stays unique), the
# index of its first ``if <version test>: return`` and the index of every statement. Asked once per
# ancestor of every deprecated reference: a scan from the top each time would be quadratic.
_VERSION_RETURNS: dict[int, tuple[cst.IndentedBlock, int | None, dict[int, int]]] = {}
_VERSION_RETURNS_ROOT: list[cst.CSTNode] = []


def _first_version_return(block: cst.IndentedBlock) -> tuple[int | None, dict[int, int]]:
    entry = _VERSION_RETURNS.get(id(block))
    if entry is not None and entry[0] is block:
        return entry[1], entry[2]
    first = next(
        (
            index
            for index, statement in enumerate(block.body)
            if isinstance(statement, cst.If)
            and statement.orelse is None
            and _exits(statement.body)
            and _mentions_version(statement.test)
        ),
        None,
    )
    indices = {id(statement): index for index, statement in enumerate(block.body)}
    _VERSION_RETURNS[id(block)] = (block, first, indices)
    return first, indices


def _after_version_return(block: cst.IndentedBlock, statement: cst.CSTNode) -> bool:
    """``if <version test>: return new`` earlier in the block: what follows is the old branch."""
    first, indices = _first_version_return(block)
    if first is None:
        return False
    index = indices.get(id(statement))
    return index is not None and index > first


def in_compat_branch(path: PathUp) -> bool:
    """Whether the current node (``path`` = ``context.path_up()``) is in a COMPAT BRANCH."""
    if path and (not _VERSION_RETURNS_ROOT or _VERSION_RETURNS_ROOT[0] is not path[-1][0]):
        # Another file: forget the last one's blocks rather than keep its tree alive.
        _VERSION_RETURNS.clear()
        _VERSION_RETURNS_ROOT[:] = [path[-1][0]]
    for ancestor, child in path:
        if isinstance(ancestor, cst.IndentedBlock) and _after_version_return(ancestor, child):
            return True
        if isinstance(ancestor, cst.ExceptHandler) and child is ancestor.body:
            if _catches_compat_error(ancestor):
                return True
        elif isinstance(ancestor, cst.If) and child is not ancestor.test:
            if _mentions_version(ancestor.test):
                return True
        elif isinstance(ancestor, cst.IfExp) and child is not ancestor.test:
            if _mentions_version(ancestor.test):
                return True
    return False


# -- fallbacks for a keyword older releases reject ------------------------------------------------

_KEYWORD_ERRORS = frozenset({"TypeError"})


def _catches_keyword_error(handler: cst.ExceptHandler) -> bool:
    # A bare ``except:`` is no evidence that the keyword was the problem.
    return _catches(handler, _KEYWORD_ERRORS, bare=False)


def fallback_alternatives(path: PathUp) -> list[cst.CSTNode]:
    """The code the current node is a version FALLBACK for, nearest first.

    ``try: load(p, weights_only=True) except TypeError: load(p)``: inside the ``except TypeError``
    handler, the ``try`` body (a release that rejects the keyword lands in the handler).
    ``if <version test>: A else: B`` (statement or expression): inside one branch, the other.
    The caller decides whether the alternative really is the newer spelling of the same call.
    """
    out: list[cst.CSTNode] = []
    for ancestor, child in path:
        if isinstance(ancestor, cst.ExceptHandler) and child is ancestor.body:
            if not _catches_keyword_error(ancestor):
                continue
            for outer, inner in path:
                if (
                    isinstance(outer, cst.Try)
                    and inner is not outer.body
                    and ancestor in outer.handlers
                ):
                    out.append(outer.body)
                    break
        elif isinstance(ancestor, cst.If) and child is not ancestor.test:
            if _mentions_version(ancestor.test):
                other = ancestor.orelse if child is ancestor.body else ancestor.body
                if other is not None:
                    out.append(other)
        elif isinstance(ancestor, cst.IfExp) and child is not ancestor.test:
            if _mentions_version(ancestor.test):
                out.append(ancestor.orelse if child is ancestor.body else ancestor.body)
    return out
