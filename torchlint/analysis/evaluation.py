"""EVALUATION: the names an evaluation routine or an evaluation data loader goes by."""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component

_EVAL_NAMES = frozenset({"evaluate", "eval", "evaluation", "validate", "validation", "val"})
_EVAL_PREFIXES = ("evaluate_", "eval_", "validate_", "validation_", "val_")
_EVAL_LOADER = re.compile(
    r"^(val|valid|validation|test|testing|eval|evaluation|dev|holdout)_?"
    r"(loader|dataloader|data_loader|dl|data|dataset|set|ds|batches|iter|iterator)s?$"
    r"|^(loader|dataloader|dl)_?(val|valid|test|eval)$",
    re.IGNORECASE,
)
_EVAL_SPLITS = frozenset({"val", "valid", "validation", "test", "eval", "dev"})


def is_eval_name(name: str) -> bool:
    """``evaluate``, ``val_epoch``, ``test_model``...: a function named for evaluating."""
    lowered = name.lower().lstrip("_")
    return (
        lowered in _EVAL_NAMES or lowered.startswith(_EVAL_PREFIXES) or lowered.startswith("test")
    )


def is_eval_loader(expr: cst.BaseExpression) -> bool:
    """``val_loader``, ``self.test_dl``, ``testloader``, ``dataloaders["val"]``..."""
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            split = index.value.evaluated_value
            base = binding_key(expr.value)
            return (
                isinstance(split, str)
                and split.lower() in _EVAL_SPLITS
                and base is not None
                and "load" in last_component(base).lower()
            )
        return False
    key = binding_key(expr)
    if key is None:
        return False
    name = last_component(key)
    return "train" not in name.lower() and bool(_EVAL_LOADER.match(name))
