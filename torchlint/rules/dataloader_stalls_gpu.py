"""TL106 dataloader-stalls-gpu.

A ``DataLoader`` without worker processes loads and collates every batch in the training process,
between steps, while the GPU waits; without ``pin_memory`` each host-to-device copy goes through
pageable memory and cannot overlap with compute.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.data import has_star_kwargs, is_dataloader_call, keyword_arg
from torchlint.analysis.devices import device_string, is_device_like, names_host
from torchlint.analysis.walk import walk
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_CUDA = re.compile(r"^cuda(:\d+)?$")
_CUDA_CALLS = frozenset({"torch.cuda.is_available", "torch.cuda.set_device", "torch.cuda.device"})
_NUM_WORKERS_POSITION = 5
_PIN_MEMORY_POSITION = 7


def _literal(arg: cst.Arg | None, *values: str) -> bool:
    if arg is None:
        return False
    value = arg.value
    if isinstance(value, cst.Integer):
        return value.value in values
    return isinstance(value, cst.Name) and value.value in values


def _argument(call: cst.Call, name: str, position: int) -> cst.Arg | None:
    found = keyword_arg(call, name)
    if found is not None:
        return found
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[position] if len(positional) > position else None


class DataLoaderStallsGpu(Rule):
    code = "TL106"
    name = "dataloader-stalls-gpu"
    summary = (
        "A `DataLoader` without worker processes or `pin_memory` in a file that trains on CUDA"
    )
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    preview = True
    needles = ("DataLoader",)
    report_in_tests = False  # tests build small loaders; worker processes only slow them

    def setup(self) -> None:
        self._loaders: list[cst.Call] = []
        self._uses_cuda = False

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if not self._uses_cuda:
            value = node.evaluated_value
            self._uses_cuda = isinstance(value, str) and bool(_CUDA.match(value))

    def visit_Call(self, node: cst.Call) -> None:
        names = self.facts.names
        if is_dataloader_call(node, names):
            self._loaders.append(node)
            return
        if self._uses_cuda:
            return
        qualified = self.context.qualified_name(node.func)
        if qualified in _CUDA_CALLS:
            self._uses_cuda = True
        elif (
            qualified is None
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "cuda"
        ):
            self._uses_cuda = True

    def leave_Module(self, node: cst.Module) -> None:
        if not self._uses_cuda:
            return
        for call in self._loaders:
            self._check(call)

    def _check(self, call: cst.Call) -> None:
        if has_star_kwargs(call) or self._dataset_on_device(call):
            return
        workers = _argument(call, "num_workers", _NUM_WORKERS_POSITION)
        pin = _argument(call, "pin_memory", _PIN_MEMORY_POSITION)
        missing = []
        if workers is None or _literal(workers, "0"):
            missing.append("`num_workers=0`" if workers is not None else "no `num_workers`")
        if (pin is None or _literal(pin, "False")) and keyword_arg(
            call, "pin_memory_device"
        ) is None:
            missing.append("`pin_memory=False`" if pin is not None else "no `pin_memory`")
        if not missing:
            return
        self.report(
            call,
            f"`DataLoader` with {' and '.join(missing)} in a file that trains on CUDA: batches "
            "are loaded in the training process and copied from pageable memory while the GPU "
            "waits; set `num_workers > 0` and `pin_memory=True`",
        )

    def _dataset_on_device(self, call: cst.Call) -> bool:
        """The dataset holds device tensors already (``TensorDataset(x.cuda(), ...)``)."""
        dataset = _argument(call, "dataset", 0)
        if dataset is None:
            return False
        values: list[cst.BaseExpression | None] = [dataset.value]
        key = binding_key(dataset.value)
        if key is not None:
            values = list(self.facts.bindings.values.get(key, ()))
        names = self.facts.names
        found = False

        def visit(node: cst.CSTNode) -> bool:
            nonlocal found
            if isinstance(node, cst.Call):
                method = node.func.attr.value if isinstance(node.func, cst.Attribute) else None
                device = keyword_arg(node, "device")
                if method == "cuda":
                    found = True
                elif method == "to" and node.args and is_device_like(node.args[0].value, names):
                    found = True
                elif device is not None and device_string(device.value) is not None:
                    found = not names_host(device.value, names)
            return not found

        for value in values:
            if isinstance(value, cst.Call):
                walk(value, visit)
        return found
