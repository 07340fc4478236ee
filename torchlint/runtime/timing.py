"""Repeated, interleaved timing runs of an original and a fixed version (``--repeats``).

The runs that decide a device's verdict are one original and one fixed run; their timings are a
single sample each, which says nothing about noise. With ``repeats`` above 1 (or a time budget),
verify makes further runs in pairs, interleaved A B B A A B ... (the order within a pair
alternates, so that drift or a second-run effect cancels), every one a fresh process
whose first optimizer steps (the harness's warm-up window) are not timed. The verdict's own pair is
a warm-up too and is not a sample. Pairs are added until ``repeats`` pairs are sampled, the time
budget is spent, or (from ``MIN_PAIRS`` pairs on) the interval of the steps/s ratio is tight.

Each metric (optimizer steps/s, host-device syncs per step, peak device memory) is then compared by
:func:`torchlint.runtime.stats.compare`: median of the per-pair ratios with a 95% bootstrap
interval, "no measurable difference" when the interval contains 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchlint.runtime.runs import RunOutcome, RunSpec, run_script
from torchlint.runtime.stats import MIN_PAIRS, Comparison, compare, median

RESOLUTION = 0.01  # a median steps/s change under 1% is no measurable difference
TIGHT = 0.04  # stop once the steps/s ratio's interval is narrower than 4% of the ratio
MAX_REPEATS_WITH_BUDGET = 50  # --time-budget without --repeats: pairs until the budget ends

# metric name, RunOutcome attribute, the words for "after above before" and "below"
METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("steps_per_s", "steps_per_s", "faster", "slower"),
    ("syncs_per_step", "syncs_per_step", "more syncs", "fewer syncs"),
    ("peak_memory", "peak_memory", "more memory", "less memory"),
)


@dataclass
class Timing:
    """The samples of the timing pairs and their comparisons, for one device."""

    device: str
    pairs: int = 0
    seconds: float = 0.0
    stopped: str = ""  # why sampling stopped: "repeats", "time budget", "interval tight", "failed"
    samples: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def speed(self) -> Comparison | None:
        return self.comparisons.get("steps_per_s")

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "pairs": self.pairs,
            "order": "interleaved pairs, the order alternating: original, fixed, fixed, original, ...",
            "warmup": "each run's warm-up steps are not timed; the verdict's pair is not a sample",
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "failures": self.failures,
            "comparisons": {name: c.to_dict() for name, c in self.comparisons.items()},
        }


def _value(run: RunOutcome, attribute: str) -> float | None:
    value = getattr(run, attribute)
    return None if value is None else float(value)


def compare_samples(timing: Timing, seed: int) -> None:
    """(Re)compute the comparisons from the samples gathered so far."""
    timing.comparisons = {}
    for name, _attribute, up, down in METRICS:
        before, after = timing.samples.get(name, ([], []))
        if before:
            resolution = RESOLUTION if name == "steps_per_s" else 0.0
            timing.comparisons[name] = compare(
                name, before, after, up=up, down=down, seed=seed, resolution=resolution
            )


def sample(
    original: RunSpec,
    fixed: RunSpec,
    workdir: Path,
    *,
    repeats: int | None,
    time_budget: float | None,
    seed: int = 0,
    tight: float = TIGHT,
    runner: Callable[[RunSpec, Path], RunOutcome] = run_script,
) -> Timing:
    """Run ``original`` and ``fixed`` in interleaved pairs and compare their metrics."""
    limit = repeats if repeats is not None else MAX_REPEATS_WITH_BUDGET
    timing = Timing(device=original.device)
    started = time.monotonic()
    stopped = "repeats"
    while timing.pairs < limit:
        if time_budget is not None and time.monotonic() - started >= time_budget:
            stopped = "time budget"
            break
        index = timing.pairs + 1
        if index % 2:  # A B, then B A: the order within a pair alternates, so that a drift or a
            # "second run of a pair" effect falls on both versions alike
            a = runner(original, workdir / f"timing-{index}-original")
            b = runner(fixed, workdir / f"timing-{index}-fixed")
        else:
            b = runner(fixed, workdir / f"timing-{index}-fixed")
            a = runner(original, workdir / f"timing-{index}-original")
        if not (a.trained and b.trained):
            bad = a if not a.trained else b
            which = "original" if bad is a else "fixed"
            timing.failures.append(f"pair {index}: the {which} run {bad.describe()}")
            stopped = "failed"
            break
        timing.pairs += 1
        for name, attribute, _up, _down in METRICS:
            va, vb = _value(a, attribute), _value(b, attribute)
            if va is None or vb is None:
                continue
            before, after = timing.samples.setdefault(name, ([], []))
            before.append(va)
            after.append(vb)
        compare_samples(timing, seed)
        speed = timing.speed
        width = speed.relative_width if speed is not None else None
        if timing.pairs >= MIN_PAIRS and width is not None and width <= tight:
            stopped = "interval tight"
            break
    timing.seconds = time.monotonic() - started
    timing.stopped = stopped
    compare_samples(timing, seed)
    return timing


_LABELS = {
    "steps_per_s": "optimizer steps/s",
    "syncs_per_step": "host-device syncs per step",
    "peak_memory": "peak device memory (MiB)",
}


def _shown(name: str, value: float) -> str:
    if name == "peak_memory":
        return f"{value / 2**20:.0f}"
    return f"{value:.4g}"


def timing_lines(timing: Timing | None, measured_once: bool) -> list[str]:
    """The text report's lines for a device's timing (or a note that there is no interval)."""
    if timing is None:
        if not measured_once:
            return []
        return ["        one run each: no confidence interval (--repeats 5 or more measures one)"]
    lines = [
        f"  timing  {timing.pairs} interleaved pairs after warm-up, {timing.seconds:.0f} s "
        f"(stopped: {timing.stopped})"
    ]
    for failure in timing.failures:
        lines.append(f"        {failure}")
    for name, comparison in timing.comparisons.items():
        before = _shown(name, median(comparison.before))
        after = _shown(name, median(comparison.after))
        lines.append(
            f"        {_LABELS[name]}: median {before} -> {after}, "
            f"{comparison.describe()} ({comparison.confidence:.0%} bootstrap interval)"
        )
    return lines


def timed_speed(comparison: dict[str, Any]) -> str:
    """A table cell from a steps/s comparison's JSON: medians, ratio, interval and verdict."""
    text = f"{comparison['median_before']:.4g} → {comparison['median_after']:.4g}"
    text += f" (×{comparison['estimate']:.2f}"
    if comparison["low"] is not None:
        text += f" [{comparison['low']:.2f}, {comparison['high']:.2f}]"
    return text + f", {comparison['pairs']} pairs: {comparison['verdict']})"
