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
- in either branch of an ``if`` (or conditional expression) whose test calls ``hasattr(...)`` or
  mentions a name or attribute containing ``version`` (``torch.__version__``, ``TORCH_VERSION``,
  ``version.parse(...)``, ``is_torch_version(...)``...).

Deprecated-API rules do not report there: the author already knows about both spellings.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from torchlint.analysis.names import dotted_name

PathUp = Sequence[tuple[cst.CSTNode, cst.CSTNode]]

_COMPAT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})


def _catches_compat_error(handler: cst.ExceptHandler) -> bool:
    kind = handler.type
    if kind is None:
        return True
    candidates = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    for candidate in candidates:
        name = dotted_name(candidate)
        if name is not None and name.rsplit(".", 1)[-1] in _COMPAT_ERRORS:
            return True
    return False


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
        elif isinstance(node, cst.SimpleString) and "version" in node.value.lower():
            return True
        pending.extend(node.children)
    return False


def in_compat_branch(path: PathUp) -> bool:
    """Whether the current node (``path`` = ``context.path_up()``) is in a COMPAT BRANCH."""
    for ancestor, child in path:
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
