"""Measured precision: how often each rule was right on real code, as judged by hand.

The figures come from the ecosystem check (``benchmarks/ecosystem/``): its verdicts are turned into
``data/precision.json`` by ``python benchmarks/ecosystem/run.py --write-docs``. They replace a
rule's declared precision wherever a person reads one (``torchlint rules``, rule pages, SARIF).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

PRECISION_DATA = Path(__file__).resolve().parent / "data" / "precision.json"


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    try:
        loaded = json.loads(PRECISION_DATA.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def measurement(code: str) -> dict[str, Any] | None:
    """The rule's record (findings, judged, right, precision, ...), or None when not measured."""
    record = _data().get("rules", {}).get(code)
    if not isinstance(record, dict) or not record.get("judged"):
        return None
    return record


def label(code: str) -> str:
    """``97% (30)``: measured precision and the number of judged findings; ``-`` without one."""
    record = measurement(code)
    if record is None or record.get("precision") is None:
        return "-"
    return f"{100 * record['precision']:.0f}% ({record['judged']})"


def sarif_precision(code: str) -> str | None:
    """GitHub's precision scale (very-high, high, medium, low) from the measured figure."""
    record = measurement(code)
    if record is None or record.get("precision") is None:
        return None
    value = float(record["precision"])
    if value >= 0.95:
        return "very-high"
    if value >= 0.9:
        return "high"
    if value >= 0.75:
        return "medium"
    return "low"
