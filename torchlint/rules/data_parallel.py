"""TL502 data-parallel.

``nn.DataParallel`` runs one process with a thread per GPU: every step it scatters the batch from
GPU 0, replicates the module, gathers the outputs back on GPU 0 and is held back by the GIL. It is
slower than DistributedDataParallel even on a single machine, balances memory badly, and PyTorch
recommends DDP instead.
"""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

DATA_PARALLEL_CLASSES = frozenset({"torch.nn.parallel.DataParallel", "torch.nn.DataParallel"})
DATA_PARALLEL_FUNCTIONS = frozenset({"torch.nn.parallel.data_parallel"})


class DataParallelUsed(Rule):
    code = "TL502"
    name = "data-parallel"
    summary = "`nn.DataParallel` (or `data_parallel`) is used instead of DistributedDataParallel"
    category = Category.DEVICE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = None
    needles = ("DataParallel", "data_parallel")

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.qualified_name(node.func)
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
