"""Which loaders take a ``map_location``, and how a call passes it.

Kept apart from the rule so that the table can grow (``torch.jit.load``, a project's own loader)
without touching the rule; torchlint's cache notices an edit here as well.
"""

from __future__ import annotations

import libcst as cst

# Qualified name of a loader -> the position of its ``map_location`` parameter.
LOADERS: dict[str, int] = {
    "torch.load": 1,
}

# Where the fix sends every tensor: the CPU exists on every machine.
DEFAULT_MAP_LOCATION = '"cpu"'


def passes_map_location(call: cst.Call, position: int) -> bool:
    """Whether ``call`` gives ``map_location`` by keyword, by position, or may through ``*args``
    or ``**kwargs``."""
    positional = 0
    for arg in call.args:
        if arg.star:
            return True
        if arg.keyword is None:
            positional += 1
        elif arg.keyword.value == "map_location":
            return True
    return positional > position
