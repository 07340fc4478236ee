"""TL502 data-parallel.

``nn.DataParallel`` runs one process with a thread per GPU: every step it scatters the batch from
GPU 0, replicates the module, gathers the outputs back on GPU 0 and is held back by the GIL. It is
slower than DistributedDataParallel even on a single machine, balances memory badly, and PyTorch
recommends DDP instead.

Not reported: a framework's own data-parallel support, which wraps the caller's module in
DataParallel because the user asked for it: a function that also builds DistributedDataParallel
(the code offers both, and DP is the chosen fallback), or a method of a class devoted to data
parallelism (``DataParallelStrategy``, ``ParallelTrainer``). Test code is not linted: tests check
that DataParallel works, or the ``module.`` prefixes it adds to state-dict keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.distributed import DDP
from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.context import FileContext

DATA_PARALLEL_CLASSES = frozenset({"torch.nn.parallel.DataParallel", "torch.nn.DataParallel"})
DATA_PARALLEL_FUNCTIONS = frozenset({"torch.nn.parallel.data_parallel"})
# A class whose purpose is data parallelism: ``DataParallelStrategy``, ``ParallelTrainer``, ``DPPlugin``.
_PARALLEL_CLASS = re.compile(r"Parallel|(?:^|[a-z_])DP(?:[A-Z_]|$)")


class _BuildsDDP(Walker):
    def __init__(self, context: FileContext) -> None:
        super().__init__()
        self.context = context
        self.found = False

    def visit_Call(self, node: cst.Call) -> bool:
        if self.context.qualified_name(node.func) in DDP:
            self.found = True
        return not self.found


class DataParallelUsed(Rule):
    code = "TL502"
    name = "data-parallel"
    summary = "`nn.DataParallel` (or `data_parallel`) is used instead of DistributedDataParallel"
    category = Category.DEVICE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = None
    report_in_tests = False
    needles = ("DataParallel", "data_parallel")

    def _framework_support(self) -> bool:
        """DataParallel as one of a framework's strategies, applied at the user's request."""
        function = self.context.enclosing(cst.FunctionDef, stop_at_scope=False)
        if function is None:
            return False
        builds = _BuildsDDP(self.context)
        builds.walk(function)
        if builds.found:
            return True
        cls = self.context.enclosing(cst.ClassDef, stop_at_scope=False)
        return cls is not None and bool(_PARALLEL_CLASS.search(cls.name.value))

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.qualified_name(node.func)
        if (
            qualified in DATA_PARALLEL_CLASSES | DATA_PARALLEL_FUNCTIONS
            and self._framework_support()
        ):
            return
        if qualified in DATA_PARALLEL_CLASSES:
            self.report(
                node,
                "`nn.DataParallel` is single-process and multi-threaded (GIL-bound, gathers on "
                "GPU 0): use `DistributedDataParallel` with one process per GPU",
            )
        elif qualified in DATA_PARALLEL_FUNCTIONS:
            self.report(
                node,
                "`nn.parallel.data_parallel` replicates the module on every call: use "
                "`DistributedDataParallel` with one process per GPU",
            )

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        for base in node.bases:
            if base.keyword is not None or base.star:
                continue
            if self.context.qualified_name(base.value) in DATA_PARALLEL_CLASSES:
                self.report(
                    base.value,
                    f"`{node.name.value}` derives from `nn.DataParallel`: build on "
                    "`DistributedDataParallel` instead",
                )
