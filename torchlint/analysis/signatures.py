"""Function signatures: which names a function or lambda binds as parameters."""

from __future__ import annotations

import libcst as cst


def has_parameter(function: cst.FunctionDef | cst.Lambda, name: str) -> bool:
    """Whether ``name`` is a parameter of ``function`` (positional, keyword-only, ``*args`` or
    ``**kwargs``): inside it, the name is the caller's value, not anything bound outside."""
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            every.append(star)
    return any(p.name.value == name for p in every)
