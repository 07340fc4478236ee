"""One-off code: functions that run once per object or per program, not once per step.

Construction, setup, loading, export, conversion, fusion for deployment and environment checks
run once, so a cost there (a host-to-device copy, an allocation) is nothing measurable, and
weight writes there (initialisation, surgery) happen before any forward pass. Matched on the first
word of the name (``_init_weights``, ``load_model``, ``check_cuda``), so that ``checkpoint_forward``
or ``loader_step`` are not taken for them.
"""

from __future__ import annotations

_DUNDERS = frozenset({"__init__", "__post_init__", "__new__", "__setstate__"})
_FIRST_WORDS = frozenset(
    {
        "init",
        "initialize",
        "initialise",
        "setup",
        "build",
        "load",
        "export",
        "convert",
        "fuse",
        "check",
    }
)
_NAMES = frozenset({"set_up", "switch_to_deploy", "reset_parameters", "main"})


def is_one_off_function(name: str) -> bool:
    """Whether a function of this name runs once per object or program (see the module doc)."""
    if name in _DUNDERS:
        return True
    bare = name.strip("_").lower()
    if bare in _NAMES or bare.startswith("set_up_"):
        return True
    return bare.split("_", 1)[0] in _FIRST_WORDS
