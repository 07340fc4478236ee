"""Which qualified base-class names make a class an ``nn.Module``.

Shared by the per-file facts (``analysis/facts.py``) and the project index, which must stay free
of LibCST (a warm run reads the index without importing it): this module imports nothing.
"""

from __future__ import annotations

_MODULE_BASES = ("torch.nn.",)
# Under ``torch.nn`` but not modules: parameters, hooks and helpers (``prune.BasePruningMethod``).
_NOT_MODULE_BASES = (
    "torch.nn.Parameter",
    "torch.nn.UninitializedParameter",
    "torch.nn.UninitializedBuffer",
    "torch.nn.Buffer",
    "torch.nn.parameter.",
    "torch.nn.utils.",
    "torch.nn.init.",
    "torch.nn.functional.",
    "torch.nn.attention.",
)
# Lightning's callbacks, precision plugins, strategies and loggers live beside
# ``LightningModule`` in ``lightning.pytorch``: only the module classes are modules.
LIGHTNING_PACKAGES = ("lightning.", "pytorch_lightning.")
# Bases that say nothing about being a module.
PLAIN_BASES = frozenset(
    {"abc.ABC", "typing.Generic", "typing.Protocol", "typing_extensions.Protocol", "object"}
)


def is_module_base(qualified: str) -> bool:
    """A qualified name of ``torch.nn.Module`` or one of its subclasses (or LightningModule)."""
    if qualified.startswith(LIGHTNING_PACKAGES):
        return qualified.rsplit(".", 1)[-1] == "LightningModule"
    return qualified.startswith(_MODULE_BASES) and not qualified.startswith(_NOT_MODULE_BASES)


def says_nothing(qualified: str) -> bool:
    """A base that is known not to be a project class and is no module: ``torch.*`` and
    Lightning classes other than modules, and ``object``/``ABC``/``Generic``/``Protocol``."""
    return qualified.startswith(("torch.", *LIGHTNING_PACKAGES)) or qualified in PLAIN_BASES
