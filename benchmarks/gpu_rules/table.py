"""The Markdown table of ``benchmarks/gpu_rules/run.sh``: ``python table.py results.json [DEVICE]``.

One row per rule, from the timing comparisons of ``torchlint verify --repeats``: medians before and
after over the interleaved pairs, the median per-pair ratio with its 95% bootstrap interval, syncs
per optimizer step, peak device memory, and the verdicts.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _interval(comparison: dict[str, Any]) -> str:
    estimate = comparison["estimate"]
    if comparison["kind"] != "ratio":
        low, high = comparison["low"], comparison["high"]
        shown = f"{estimate:+.3g}"
        return shown + (f" [{low:+.3g}, {high:+.3g}]" if low is not None else "")
    shown = f"×{estimate:.3f}"
    if comparison["low"] is not None:
        shown += f" [{comparison['low']:.3f}, {comparison['high']:.3f}]"
    return shown


def row(payload: dict[str, Any], device: str) -> str:
    rule = payload.get("rule", "?")
    script = payload.get("script", "?").rsplit("/", 1)[-1]
    if "not_run" in payload:
        return f"| {rule} | {script} | - | - | - | - | - | not run: {payload['not_run']} |"
    fixed_by = "torchlint" if payload.get("fixed_by") == "torchlint" else "by hand"
    verdict = next((v for v in payload["devices"] if v["device"] == device), None)
    if verdict is None or not verdict.get("timing"):
        outcome = verdict["summary"] if verdict else "no result"
        return f"| {rule} | {script} ({fixed_by}) | - | - | - | - | - | {outcome} |"
    timing = verdict["timing"]
    comparisons = timing["comparisons"]
    speed = comparisons.get("steps_per_s")
    syncs = comparisons.get("syncs_per_step")
    memory = comparisons.get("peak_memory")
    cells = [f"{rule}", f"{script} ({fixed_by})"]
    if speed:
        cells.append(f"{_fmt(speed['median_before'])} → {_fmt(speed['median_after'])}")
        cells.append(_interval(speed))
    else:
        cells += ["-", "-"]
    cells.append(
        f"{_fmt(syncs['median_before'], 3)} → {_fmt(syncs['median_after'], 3)}" if syncs else "-"
    )
    cells.append(
        f"{_mib(memory['median_before'])} → {_mib(memory['median_after'])}" if memory else "-"
    )
    cells.append(str(timing["pairs"]))
    verdicts = [speed["verdict"] if speed else "no timing"]
    for comparison in (syncs, memory):
        if comparison and comparison["verdict"] not in ("no measurable difference", "too few runs"):
            verdicts.append(comparison["verdict"])
    if verdict["outcome"] != "pass":
        verdicts.append(f"verify: {verdict['outcome']}")
    cells.append("; ".join(verdicts))
    return "| " + " | ".join(cells) + " |"


def table(payloads: list[dict[str, Any]], device: str = "cuda") -> str:
    lines = [
        "| rule | script (fix) | steps/s before → after (medians) | ratio [95% CI] "
        "| syncs/step before → after | peak memory MiB before → after | pairs | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [row(payload, device) for payload in payloads]
    return "\n".join(lines) + "\n"


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        payloads = json.load(handle)
    device = sys.argv[2] if len(sys.argv) > 2 else "cuda"
    sys.stdout.write(table(payloads, device))


if __name__ == "__main__":
    main()
