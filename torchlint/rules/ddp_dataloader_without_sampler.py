"""TL504 ddp-dataloader-without-sampler.

Under DistributedDataParallel every process runs the same script. A DataLoader without a
DistributedSampler gives each process the whole dataset, so N GPUs all train on the same samples:
an epoch costs N times the compute for one GPU's worth of data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.data import (
    has_star_kwargs,
    is_dataloader_call,
    is_eval_name,
    keyword_arg,
)
from torchlint.analysis.distributed import is_ddp_call
from torchlint.analysis.names import dotted_name
from torchlint.analysis.walk import walk
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_RANK_WORD = re.compile(r"rank|main_process|is_master|is_main|master_process", re.IGNORECASE)
_PREPARES = frozenset({"prepare", "prepare_data_loader", "setup_dataloaders"})
_SHARDED = re.compile(r"Iterable|WebDataset|split_dataset_by_node|shard", re.IGNORECASE)


@dataclass
class _Loader:
    call: cst.Call
    scope: cst.CSTNode
    key: str | None


def _mentions_rank(test: cst.BaseExpression) -> bool:
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, cst.Name) and _RANK_WORD.search(node.value):
            found = True
        elif isinstance(node, cst.Attribute) and _RANK_WORD.search(node.attr.value):
            found = True
        return not found

    walk(test, visit)
    return found


class DdpDataLoaderWithoutSampler(Rule):
    code = "TL504"
    name = "ddp-dataloader-without-sampler"
    summary = (
        "A training DataLoader in a process that wraps its model in DDP has no "
        "DistributedSampler, so every rank iterates the whole dataset"
    )
    category = Category.DEVICE
    severity = Severity.ERROR
    precision = Precision.MEDIUM
    needles = ("DistributedDataParallel",)

    def setup(self) -> None:
        self._loaders: list[_Loader] = []
        self._ddp_scopes: set[int] = set()
        self._prepared: set[str] = set()

    def _scope(self) -> cst.CSTNode:
        return self.context.enclosing(cst.FunctionDef) or self.context.module

    def visit_Call(self, node: cst.Call) -> None:
        names = self.facts.names
        if is_ddp_call(node, names):
            self._ddp_scopes.add(id(self._scope()))
            return
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _PREPARES:
            for arg in node.args:
                key = binding_key(arg.value)
                if key is not None:
                    self._prepared.add(key)
            return
        if not is_dataloader_call(node, names) or self._exempt(node):
            return
        parent = self.context.stack[-2] if len(self.context.stack) >= 2 else None
        key = None
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            key = binding_key(parent.targets[0].target)
        if key is not None and is_eval_name(last_component(key)):
            return  # an evaluation loader: duplicated work, but the right numbers
        self._loaders.append(_Loader(node, self._scope(), key))

    def _exempt(self, call: cst.Call) -> bool:
        if has_star_kwargs(call):
            return True
        for name in ("sampler", "batch_sampler"):
            arg = keyword_arg(call, name)
            if arg is not None and not (
                isinstance(arg.value, cst.Name) and arg.value.value == "None"
            ):
                return True
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if len(positional) > 3:
            return True  # sampler / batch_sampler passed by position
        dataset = keyword_arg(call, "dataset") or (positional[0] if positional else None)
        if dataset is not None and self._eval_or_sharded(dataset.value):
            return True
        for ancestor, child in self.context.path_up():
            if isinstance(ancestor, cst.If) and child is ancestor.body:
                if _mentions_rank(ancestor.test):
                    return True  # built on one rank only (evaluation or logging on rank 0)
        return False

    def _eval_or_sharded(self, dataset: cst.BaseExpression) -> bool:
        """An evaluation dataset by name, or one that shards itself across ranks."""
        key = binding_key(dataset)
        values: list[cst.BaseExpression | None] = [dataset]
        if key is not None:
            if is_eval_name(last_component(key)):
                return True
            values += self.facts.bindings.values.get(key, [])
        for value in values:
            if not isinstance(value, cst.Call):
                continue
            callee = dotted_name(value.func) or ""
            if _SHARDED.search(callee):
                return True
            cls = self.facts.bindings.classes.get(callee)
            if cls is not None and any(
                _SHARDED.search(dotted_name(b.value) or "") for b in cls.bases
            ):
                return True
        return False

    def leave_Module(self, node: cst.Module) -> None:
        if not self._ddp_scopes:
            return
        module_wide = id(node) in self._ddp_scopes
        for loader in self._loaders:
            if loader.key is not None and loader.key in self._prepared:
                continue  # Accelerate / Fabric replace the sampler in prepare()
            if not (module_wide or id(loader.scope) in self._ddp_scopes):
                continue
            self.report(
                loader.call,
                "this DataLoader has no `sampler=` in a process that wraps its model in "
                "DistributedDataParallel: every rank iterates the whole dataset, so N GPUs train on "
                "the same samples; pass `sampler=DistributedSampler(dataset)`",
            )
