"""Runtime verification: run a training script and its fixed version, and compare how they train.

``from torchlint.runtime import verify``. Nothing here imports torch: the runs happen in child
processes (:mod:`torchlint.runtime.harness`), and this package loads its parts on first use so that
the harness starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchlint.runtime.api import AppliedFix, VerifyError, VerifyResult, verify
    from torchlint.runtime.compare import Check, DeviceVerdict
    from torchlint.runtime.runs import RunOutcome

_EXPORTS = {
    "verify": "torchlint.runtime.api",
    "VerifyResult": "torchlint.runtime.api",
    "VerifyError": "torchlint.runtime.api",
    "AppliedFix": "torchlint.runtime.api",
    "DeviceVerdict": "torchlint.runtime.compare",
    "Check": "torchlint.runtime.compare",
    "RunOutcome": "torchlint.runtime.runs",
}

__all__ = [
    "AppliedFix",
    "Check",
    "DeviceVerdict",
    "RunOutcome",
    "VerifyError",
    "VerifyResult",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'torchlint.runtime' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
