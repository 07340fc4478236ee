"""Devices: which expressions name a device, and which of those name the host.

``x.to(arg)`` moves a tensor when ``arg`` is a device and casts it when ``arg`` is a dtype; rules
that talk about transfers need to tell the two apart without running the code. An argument counts
as a device only on positive evidence:

- a device string (``"cuda"``, ``"cuda:1"``, ``"cpu"``, ``"mps"``...), an f-string starting with
  one (``f"cuda:{rank}"``), or an integer (a CUDA index);
- ``torch.device(...)``;
- a name or attribute named like a device: ``device``, ``dev``, ``self.device``, ``x.device``,
  ``train_device``, ``device_id``, ``rank``, ``local_rank``, ``gpu``, ``gpu_id``...

A dtype (``torch.float16``, ``dtype``, ``self.dtype``) or any other value is not a device.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.names import ImportMap, dotted_name

_DEVICE_STRING = re.compile(
    r"^(cuda|cpu|mps|xpu|meta|hpu|npu|xla|ipu|privateuseone)(:\d+)?$", re.IGNORECASE
)
_HOST_STRING = re.compile(r"^cpu(:\d+)?$", re.IGNORECASE)
_DEVICE_NAME = re.compile(
    r"^_*(device|dev|\w+_device|device_\w+|\w+_dev|rank|local_rank|\w+_rank|gpu|gpus?_id|"
    r"gpu_idx|\w+_gpu)$",
    re.IGNORECASE,
)
_NOT_DEVICE_NAME = re.compile(r"dtype|type$|_ids$|_map$|count|world", re.IGNORECASE)


def string_value(expr: cst.BaseExpression) -> str | None:
    """The value of a plain string literal (None for f-strings, bytes and anything else)."""
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _fstring_prefix(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.FormattedString) and expr.parts:
        first = expr.parts[0]
        if isinstance(first, cst.FormattedStringText):
            return first.value
    return None


def device_string(expr: cst.BaseExpression) -> str | None:
    """``"cuda:0"`` for a device literal (or the leading text of a device f-string)."""
    value = string_value(expr)
    if value is not None:
        return value if _DEVICE_STRING.match(value) else None
    prefix = _fstring_prefix(expr)
    if prefix is not None and re.match(r"^[a-z]+:$", prefix) and _DEVICE_STRING.match(prefix[:-1]):
        return prefix
    return None


def _torch_device_call(expr: cst.BaseExpression, names: ImportMap) -> cst.Call | None:
    if isinstance(expr, cst.Call) and names.resolve(expr.func) == "torch.device":
        return expr
    return None


def is_device_like(expr: cst.BaseExpression, names: ImportMap) -> bool:
    """Whether ``expr`` names a device (see the module docstring for the evidence counted)."""
    if device_string(expr) is not None:
        return True
    if isinstance(expr, cst.Integer):
        return True
    if _torch_device_call(expr, names) is not None:
        return True
    dotted = dotted_name(expr)
    if dotted is None:
        return False
    qualified = names.resolve(expr)
    if qualified is not None and qualified.startswith("torch."):
        return False  # torch.float16, torch.long, ...: module-level torch names are not devices
    last = dotted.rsplit(".", 1)[-1]
    if _NOT_DEVICE_NAME.search(last):
        return False
    return bool(_DEVICE_NAME.match(last))


def names_host(expr: cst.BaseExpression, names: ImportMap) -> bool:
    """``"cpu"``, ``"cpu:0"`` or ``torch.device("cpu")``: the host, where no transfer happens."""
    value = string_value(expr)
    if value is not None:
        return bool(_HOST_STRING.match(value))
    call = _torch_device_call(expr, names)
    if call is not None and call.args and call.args[0].keyword is None:
        return names_host(call.args[0].value, names)
    return False
