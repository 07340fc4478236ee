"""Distributed training facts: DDP wrapping and DistributedSampler construction.

- DDP CALL: a call of ``torch.nn.parallel.DistributedDataParallel`` (any spelling, ``DDP(...)``).
- DISTRIBUTED SAMPLER CALL: a call of ``torch.utils.data.DistributedSampler``
  (or ``torch.utils.data.distributed.DistributedSampler``).
- ``contains_call(expr, pred)``: ``expr`` is such a call, or holds one in a branch of a conditional
  expression (``DistributedSampler(ds) if distributed else None``).
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from torchlint.analysis.names import ImportMap

DDP = frozenset(
    {
        "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.distributed.DistributedDataParallel",
        "torch.nn.DistributedDataParallel",
    }
)
DISTRIBUTED_SAMPLERS = frozenset(
    {"torch.utils.data.DistributedSampler", "torch.utils.data.distributed.DistributedSampler"}
)


def is_ddp_call(node: cst.CSTNode, names: ImportMap) -> bool:
    return isinstance(node, cst.Call) and names.resolve(node.func) in DDP


def is_distributed_sampler_call(node: cst.CSTNode, names: ImportMap) -> bool:
    return isinstance(node, cst.Call) and names.resolve(node.func) in DISTRIBUTED_SAMPLERS


def contains_call(
    expr: cst.BaseExpression | None, predicate: Callable[[cst.CSTNode], bool]
) -> cst.Call | None:
    """``expr`` itself when it satisfies ``predicate``, or the first branch of a conditional
    expression that does; None otherwise."""
    if expr is None:
        return None
    if isinstance(expr, cst.Call) and predicate(expr):
        return expr
    if isinstance(expr, cst.IfExp):
        return contains_call(expr.body, predicate) or contains_call(expr.orelse, predicate)
    return None
