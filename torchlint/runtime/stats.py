"""Paired comparisons of repeated measurements: the median ratio and its bootstrap interval.

Pure Python (``random`` and ``statistics``): verify's runs are few (tens), so a percentile
bootstrap of the median over a few thousand resamples costs milliseconds.

The runs of an original (A) and a fixed version (B) are interleaved, A B A B ..., so each pair
shares the machine's state at that moment (clocks, other load): the statistic is the median of the
per-pair ratios B/A, and the bootstrap resamples pairs. When a ratio is undefined (an A value of
zero, such as no host-device synchronisation at all), the per-pair differences B - A are used.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CONFIDENCE = 0.95
RESAMPLES = 4000
MIN_PAIRS = 5  # fewer pairs give no interval: with 3, the bootstrap's interval is [min, max]
NO_DIFFERENCE = "no measurable difference"


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def bootstrap_median_ci(
    values: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap interval of the median of ``values`` (seeded: reproducible)."""
    if not values:
        raise ValueError("an interval of no values")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    rng = random.Random(seed)
    n = len(values)
    data = list(values)
    medians = sorted(
        statistics.median([data[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples)
    )
    tail = (1 - confidence) / 2
    low = medians[int(tail * (resamples - 1))]
    high = medians[int(round((1 - tail) * (resamples - 1)))]
    return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """One metric of A and B over paired runs.

    ``kind`` is "ratio" (B/A per pair) or "difference" (B - A per pair, when an A value is 0).
    ``estimate`` is the median of the per-pair values and ``low``/``high`` its interval (None with
    fewer than ``MIN_PAIRS`` pairs). ``verdict``: ``up`` or ``down`` (the words for B above or
    below A) when the interval excludes no change, else "no measurable difference", or
    "too few runs" without an interval.
    """

    metric: str
    before: tuple[float, ...]
    after: tuple[float, ...]
    kind: str
    estimate: float
    low: float | None
    high: float | None
    verdict: str
    confidence: float = CONFIDENCE

    @property
    def pairs(self) -> int:
        return len(self.before)

    @property
    def measured(self) -> bool:
        """The interval excludes no change: a difference the data supports."""
        return self.low is not None and self.verdict not in (NO_DIFFERENCE, "too few runs")

    @property
    def relative_width(self) -> float | None:
        """Width of the interval relative to the estimate (ratios only): how tight it is."""
        if self.low is None or self.high is None or self.kind != "ratio" or self.estimate <= 0:
            return None
        return (self.high - self.low) / self.estimate

    def describe(self) -> str:
        """``×1.23 [1.20, 1.26]: faster`` or ``+0.5 [0.0, 1.0]: no measurable difference``."""
        if self.kind == "ratio":
            text = f"×{self.estimate:.3f}"
            interval = f" [{self.low:.3f}, {self.high:.3f}]" if self.low is not None else ""
        else:
            text = f"{self.estimate:+.4g}"
            interval = f" [{self.low:+.4g}, {self.high:+.4g}]" if self.low is not None else ""
        return f"{text}{interval}: {self.verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "kind": self.kind,
            "pairs": self.pairs,
            "median_before": median(self.before),
            "median_after": median(self.after),
            "estimate": self.estimate,
            "confidence": self.confidence,
            "low": self.low,
            "high": self.high,
            "verdict": self.verdict,
            "samples_before": list(self.before),
            "samples_after": list(self.after),
        }


def compare(
    metric: str,
    before: Sequence[float],
    after: Sequence[float],
    *,
    up: str = "higher",
    down: str = "lower",
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
    min_pairs: int = MIN_PAIRS,
    resolution: float = 0.0,
) -> Comparison:
    """Compare paired samples (``before[i]`` and ``after[i]`` measured one after the other).

    A difference is called only when the interval excludes no change (1 for a ratio, 0 for a
    difference) and the median ratio is more than ``resolution`` away from 1 (a relative change
    smaller than what the measurement resolves is "no measurable difference" too).
    """
    if len(before) != len(after):
        raise ValueError("before and after must be paired (the same number of samples)")
    if not before:
        raise ValueError("no samples")
    if all(b > 0 for b in before):
        kind, neutral = "ratio", 1.0
        values = [a / b for b, a in zip(before, after, strict=True)]
    else:
        kind, neutral = "difference", 0.0
        values = [a - b for b, a in zip(before, after, strict=True)]
    estimate = median(values)
    low = high = None
    if len(values) < min_pairs:
        verdict = "too few runs"
    else:
        low, high = bootstrap_median_ci(
            values, confidence=confidence, resamples=resamples, seed=seed
        )
        small = kind == "ratio" and abs(estimate - 1.0) <= resolution
        if low > neutral and not small:
            verdict = up
        elif high < neutral and not small:
            verdict = down
        else:
            verdict = NO_DIFFERENCE
    return Comparison(
        metric=metric,
        before=tuple(float(v) for v in before),
        after=tuple(float(v) for v in after),
        kind=kind,
        estimate=estimate,
        low=low,
        high=high,
        verdict=verdict,
        confidence=confidence,
    )
