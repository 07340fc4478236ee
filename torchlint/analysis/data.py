"""Data loading facts: DataLoader calls, Dataset classes, and what a ``for`` loop iterates.

- DATALOADER: a call of ``torch.utils.data.DataLoader`` (any spelling).
- DATASET CLASS: a class whose bases resolve to ``torch.utils.data.Dataset`` or
  ``IterableDataset`` (or a torch dataset such as ``TensorDataset``), directly or through classes of
  the same file.
- EVALUATION NAME: a variable named for evaluation data (``val_loader``, ``test_set``,
  ``eval_dataset``, ``valloader``, ``dev_data``...), as opposed to training data.
- ITERATED NAMES of a loop: ``loader`` in ``for b in loader``, ``for i, b in enumerate(loader)``,
  ``for b in tqdm(loader, ...)``, ``for b, c in zip(loader, other)``...
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.names import ImportMap, dotted_name

DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_DATASET_BASES = frozenset(
    {
        "torch.utils.data.Dataset",
        "torch.utils.data.dataset.Dataset",
        "torch.utils.data.IterableDataset",
        "torch.utils.data.dataset.IterableDataset",
        "torch.utils.data.TensorDataset",
        "torch.utils.data.dataset.TensorDataset",
        "torch.utils.data.ConcatDataset",
        "torch.utils.data.Subset",
    }
)
_ITERATION_WRAPPERS = frozenset(
    {"enumerate", "tqdm", "iter", "islice", "zip", "track", "trange_loader", "progress_bar"}
)


_EVAL_NAME = re.compile(
    r"(^|_)(val|valid|validation|eval|evaluation|test|testing|dev|holdout|calib|calibration)"
    r"(_|$|\d)|^(val|valid|eval|test|dev)(loader|set|data|dataset|ds|dl|iter)s?$",
    re.IGNORECASE,
)


def is_eval_name(name: str) -> bool:
    """``val_loader``, ``test_set``, ``eval_dataset``, ``valloader``: evaluation data by name."""
    return bool(_EVAL_NAME.search(name))


def keyword_arg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def has_star_kwargs(call: cst.Call) -> bool:
    return any(arg.star == "**" for arg in call.args)


def is_dataloader_call(node: cst.CSTNode, names: ImportMap) -> bool:
    return isinstance(node, cst.Call) and names.resolve(node.func) in DATALOADERS


def is_dataset_class(
    cls: cst.ClassDef,
    names: ImportMap,
    classes: dict[str, cst.ClassDef],
    _seen: frozenset[int] = frozenset(),
) -> bool:
    """Derives from a torch ``Dataset``/``IterableDataset`` (directly or via same-file classes)."""
    if id(cls) in _seen:
        return False
    seen = _seen | {id(cls)}
    for base in cls.bases:
        if base.keyword is not None:
            continue
        qualified = names.resolve(base.value)
        if qualified is not None:
            if qualified in _DATASET_BASES:
                return True
            continue
        if isinstance(base.value, cst.Name):
            local = classes.get(base.value.value)
            if local is not None and is_dataset_class(local, names, classes, seen):
                return True
    return False


def iterated_keys(iterable: cst.BaseExpression) -> set[str]:
    """Binding keys a loop over ``iterable`` iterates: ``loader`` for ``enumerate(loader)``."""
    key = binding_key(iterable)
    if key is not None:
        return {key}
    if isinstance(iterable, cst.Call):
        callee = dotted_name(iterable.func)
        if callee is not None and callee.rsplit(".", 1)[-1] in _ITERATION_WRAPPERS:
            out: set[str] = set()
            for arg in iterable.args:
                if arg.keyword is None and not arg.star:
                    out |= iterated_keys(arg.value)
            return out
    return set()
