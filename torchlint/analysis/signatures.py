"""Function signatures: which names a function or lambda binds as parameters."""

from __future__ import annotations

import libcst as cst


def parameters(params: cst.Parameters) -> list[cst.Param]:
    """Every parameter: positional-only, positional, keyword-only, ``*args``, ``**kwargs``."""
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    if isinstance(params.star_arg, cst.Param):
        every.append(params.star_arg)
    if params.star_kwarg is not None:
        every.append(params.star_kwarg)
    return every


def has_parameter(function: cst.FunctionDef | cst.Lambda, name: str) -> bool:
    """Whether ``name`` is a parameter of ``function`` (positional, keyword-only, ``*args`` or
    ``**kwargs``): inside it, the name is the caller's value, not anything bound outside."""
    return any(p.name.value == name for p in parameters(function.params))
