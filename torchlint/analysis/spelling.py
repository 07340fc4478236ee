"""Writing a qualified name in a file's own terms, for fixes that introduce a new name.

``spell("torch.nn.functional.interpolate", names)`` gives ``F.interpolate`` in a file that did
``import torch.nn.functional as F``, ``torch.nn.functional.interpolate`` in one that did
``import torch``, and, in a file that imports nothing suitable, the full name together with the
module a fix must import (``AddImport``) to make it reachable.
"""

from __future__ import annotations

from dataclasses import dataclass

from torchlint.analysis.names import ImportMap


@dataclass(frozen=True)
class Spelling:
    code: str  # how to write the name here
    needs_import: str | None  # the module to ``import`` first (``AddImport``), if any


def spell(
    qualified: str, names: ImportMap, module: str | None = None, prefer: str | None = None
) -> Spelling | None:
    """The shortest reliable way to write ``qualified`` with the file's imports.

    The local name bound to the longest module prefix of ``qualified`` wins (``F`` for
    ``torch.nn.functional``). With none, the full dotted name, after ``import <module>`` (by
    default the top-level package: ``import torch`` reaches ``torch.nn.functional``); None when the
    top-level name is bound to something else (``from foo import torch``). ``prefer`` names a local
    alias to use whenever it reaches ``qualified`` (the alias the rewritten code already uses).
    """
    if prefer is not None:
        target = names.aliases.get(prefer)
        if target is not None and qualified.startswith(target + "."):
            return Spelling(prefer + qualified[len(target) :], None)
    best: tuple[str, str] | None = None
    for local, target in names.aliases.items():
        # Only names bound to modules on the way: a from-imported object (``from m import f``)
        # may be imported below the code being fixed.
        if qualified.startswith(target + "."):
            if best is None or len(target) > len(best[1]):
                best = (local, target)
    if best is not None:
        local, target = best
        return Spelling(local + qualified[len(target) :], None)
    top = qualified.split(".", 1)[0]
    if top in names.aliases:
        return None
    return Spelling(qualified, module or top)
