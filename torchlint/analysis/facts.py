"""A file's torch facts, computed once per file and shared by every rule.

Each fact is computed on first use: a file no rule asks about costs nothing beyond the parse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import profiling
from torchlint.analysis.bindings import Bindings
from torchlint.analysis.callees import CallSummaries
from torchlint.analysis.dataflow import ScopeBindings, name_counts
from torchlint.analysis.module_bases import is_module_base, says_nothing
from torchlint.analysis.names import ImportMap, collect_module_imports
from torchlint.analysis.training_loops import ClosureDefs, Loop, LoopSummary, summarize_loop

if TYPE_CHECKING:
    from torchlint.project_index import ProjectIndex


class TorchFacts:
    def __init__(self, module: cst.Module, source: str | None = None) -> None:
        self.module = module
        self.names = ImportMap()
        collect_module_imports(module, self.names)
        self.names.scope_module(module, source)
        self._bindings: Bindings | None = None
        self._loops: dict[int, LoopSummary] = {}
        self._module_classes: dict[int, bool] = {}
        self._name_counts: Counter[str] | None = None
        self._scope_bindings: dict[int, ScopeBindings] = {}
        self._closure_defs: ClosureDefs | None = None
        self._source = source
        # The project index and this file's path, set by the engine when the run has a project:
        # then calls and base classes imported from the project's other files are known.
        self.project: ProjectIndex | None = None
        self.path: Path | None = None
        self._calls: CallSummaries | None = None

    @property
    def bindings(self) -> Bindings:
        if self._bindings is None:
            with profiling.phase("facts-lazy"):
                self._bindings = Bindings(self.names, self._source)
                self._bindings.walk(self.module)
        return self._bindings

    @property
    def calls(self) -> CallSummaries:
        """What the functions this file calls do (its own, and the project's through the index)."""
        if self._calls is None:
            with profiling.phase("facts-lazy"):
                self._calls = CallSummaries(
                    self.module,
                    self._source,
                    self.bindings.scopes,
                    self.project,
                    self.path,
                    self.names,
                )
        return self._calls

    @property
    def name_counts(self) -> Counter[str]:
        """How often each variable name appears in the file (``count_name`` over the module)."""
        if self._name_counts is None:
            with profiling.phase("facts-lazy"):
                self._name_counts = name_counts(self.module)
        return self._name_counts

    @property
    def closure_defs(self) -> ClosureDefs:
        """The ``def`` each ``X.step(name)`` call's closure name stands for."""
        if self._closure_defs is None:
            with profiling.phase("facts-lazy"):
                self._closure_defs = ClosureDefs(self.module)
        return self._closure_defs

    def loop(self, loop: Loop) -> LoopSummary:
        summary = self._loops.get(id(loop))
        if summary is None:
            with profiling.phase("facts-lazy"):
                summary = self._loops[id(loop)] = summarize_loop(loop, self)
        return summary

    def scope_bindings(self, scope: cst.CSTNode) -> ScopeBindings:
        """Where each name of a function, class or module body is bound, in source order."""
        found = self._scope_bindings.get(id(scope))
        if found is None:
            with profiling.phase("facts-lazy"):
                found = self._scope_bindings[id(scope)] = ScopeBindings(scope)
        return found

    def is_training_loop(self, loop: Loop) -> bool:
        return self.loop(loop).is_training_loop

    def is_module_class(self, cls: cst.ClassDef) -> bool:
        """Derives from torch.nn.Module (directly or through classes of this file)."""
        known = self._module_classes.get(id(cls))
        if known is not None:
            return known
        self._module_classes[id(cls)] = False  # cuts inheritance cycles
        result = self._derives_from_module(cls)
        self._module_classes[id(cls)] = result
        return result

    def class_bases(
        self, cls: cst.ClassDef
    ) -> Iterator[tuple[cst.Arg, str | None, cst.ClassDef | None]]:
        """Each positional base of ``cls``: the base, its qualified name when it comes from an
        import, and the class of this file it names (never ``cls`` itself)."""
        for base in cls.bases:
            if base.keyword is not None:
                continue
            qualified = self.names.resolve(base.value)
            local = None
            if qualified is None and isinstance(base.value, cst.Name):
                local = self.bindings.classes.get(base.value.value)
            yield base, qualified, local if local is not cls else None

    def _derives_from_module(self, cls: cst.ClassDef) -> bool:
        unresolved = False
        for base, qualified, local in self.class_bases(cls):
            if local is None and self.project is not None:
                # A class of another project file: the project index knows its bases.
                verdict = self.calls.base_is_module(base.value)
                if verdict is not None:
                    if verdict:
                        return True
                    continue
            if qualified is not None:
                if is_module_base(qualified):
                    return True
                if not (says_nothing(qualified) or _is_mixin(qualified.rsplit(".", 1)[-1])):
                    unresolved = True
                continue
            if local is not None:
                if self.is_module_class(local):
                    return True
                continue
            if base.value is not None and not (
                isinstance(base.value, cst.Name) and base.value.value in ("object", "ABC")
            ):
                last = base.value.attr.value if isinstance(base.value, cst.Attribute) else None
                if isinstance(base.value, cst.Name):
                    last = base.value.value
                if last is None or not _is_mixin(last):
                    unresolved = True
        # An unknown base and a ``forward``: probably a module from elsewhere. A class that
        # defines its own ``__call__`` is not (``nn.Module.__call__`` is what runs ``forward``):
        # transformers' ``Pipeline``, say.
        return unresolved and _has_method(cls, "forward") and not _has_method(cls, "__call__")


def _is_mixin(name: str) -> bool:
    return name.endswith("Mixin")


def _has_method(cls: cst.ClassDef, name: str) -> bool:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    return any(isinstance(s, cst.FunctionDef) and s.name.value == name for s in body)
