"""Verdicts: does the fixed run still train, and how does it compare with the original run?

Pure functions over two :class:`~torchlint.runtime.runs.RunOutcome` values (no torch here), so the
rules of judgement are testable on their own:

- *runs*: the fixed version makes as many optimizer steps as the original did, without crashing;
- *finite*: every loss the fixed version backpropagated is finite (or, where the original's were
  not all finite either, no more of them are non-finite than the original's);
- *trains*: the loss went down over the window (mean of the last fifth of the values against the
  first fifth, per stepping call site: a GAN has one trajectory per optimizer). A fixed version that
  stops training where the original trained fails. With several optimizers whose losses do not all
  fall (adversarial training) the check does not apply: one player's loss rises as the other's
  falls, so finiteness and *no-worse* on the summed final loss decide;
- *matches* (fixes that preserve behaviour): both trajectories agree value for value within
  ``match_rtol`` (deterministic seeds make them identical on CPU);
- *no-worse* (fixes that change behaviour): the fixed version's final loss (summed over its
  trajectories) is no worse than the original's beyond ``tolerance`` (relative to the final loss,
  or to 5% of the initial loss when the final one is near zero).

An original that does not train leaves nothing to compare (the verdict is *inconclusive*): one that
crashed, timed out or never stepped, and one whose final loss is not finite (NaN or inf), unless
the fixed version's final loss is finite: then the fix is judged on what it repaired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torchlint.runtime.runs import RunOutcome

MIN_DECREASE = 0.01  # a loss "went down" when it fell by more than 1% of its starting value


class CompareMode:
    MATCH = "match"  # behaviour-preserving fixes: trajectories must agree
    TRAIN = "train"  # behaviour-changing fixes: must train at least as well
    UNCHANGED = "unchanged"  # no fix applied: only the original runs


class Outcome:
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # the original could not be run, so nothing could be compared
    SKIPPED = "skipped"  # the device is not there (``--device all`` without CUDA)


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not applicable
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class Trend:
    first: float
    last: float

    @property
    def change(self) -> float:
        return (self.last - self.first) / abs(self.first) if self.first else 0.0

    @property
    def decreased(self) -> bool:
        return self.last < self.first - MIN_DECREASE * abs(self.first)

    def __str__(self) -> str:
        text = f"{_fmt(self.first)} -> {_fmt(self.last)}"
        if math.isfinite(self.change):
            text += f" ({self.change:+.0%})"
        return text


@dataclass
class DeviceVerdict:
    device: str
    outcome: str
    summary: str
    checks: list[Check] = field(default_factory=list)
    original: RunOutcome | None = None
    fixed: RunOutcome | None = None
    timing: Any = None  # timing.Timing: the repeated, interleaved runs (verify --repeats)

    @property
    def passed(self) -> bool:
        return self.outcome == Outcome.PASS

    @property
    def perf(self) -> dict[str, Any] | None:
        """Steps per second and synchronisations per step, before and after (when measured)."""
        if self.original is None or self.fixed is None:
            return None
        o, f = self.original, self.fixed
        if all(r.steps_per_s is None and r.syncs_per_step is None for r in (o, f)):
            return None
        perf: dict[str, Any] = {
            "steps_per_s": [o.steps_per_s, f.steps_per_s],
            "syncs_per_step": [o.syncs_per_step, f.syncs_per_step],
        }
        if o.steps_per_s and f.steps_per_s:
            perf["speedup"] = f.steps_per_s / o.steps_per_s
        if o.sync_sites or f.sync_sites:
            perf["sync_sites"] = [o.sync_sites, f.sync_sites]
        return perf

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "outcome": self.outcome,
            "summary": self.summary,
            "checks": [c.to_dict() for c in self.checks],
            "perf": self.perf,
            "original": self.original.to_dict() if self.original else None,
            "fixed": self.fixed.to_dict() if self.fixed else None,
            "timing": self.timing.to_dict() if self.timing is not None else None,
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def trend(values: list[float | None]) -> Trend | None:
    """Mean of the first fifth against the mean of the last fifth (None: too few values)."""
    numbers = [v for v in values if v is not None]
    if len(numbers) < 2:
        return None
    k = max(1, len(numbers) // 5)
    return Trend(sum(numbers[:k]) / k, sum(numbers[-k:]) / k)


def trends(run: RunOutcome) -> list[Trend | None]:
    streams = max(run.loss_streams, default=-1) + 1
    return [trend(run.stream(i)) for i in range(streams)]


def final_loss(run: RunOutcome) -> float | None:
    """The sum over stepping sites of each trajectory's final (last fifth) mean loss."""
    found = [t for t in trends(run) if t is not None]
    if not found:
        return None
    return sum(t.last for t in found)


def initial_loss(run: RunOutcome) -> float | None:
    found = [t for t in trends(run) if t is not None]
    if not found:
        return None
    return sum(t.first for t in found)


def first_difference(
    a: list[float | None], b: list[float | None], rtol: float, atol: float = 1e-6
) -> int | None:
    """Index of the first value that differs beyond tolerance (len of the shorter: lengths differ)."""
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x is None and y is None:
            continue
        if x is None or y is None:
            return index
        if math.isnan(x) and math.isnan(y):
            continue
        if not math.isclose(x, y, rel_tol=rtol, abs_tol=atol):
            return index
    if len(a) != len(b):
        return min(len(a), len(b))
    return None


def _trains_check(original: RunOutcome, fixed: RunOutcome) -> Check:
    before, after = trends(original), trends(fixed)
    trains_before = any(t is not None and t.decreased for t in before)
    trains_after = any(t is not None and t.decreased for t in after)
    count = max(len(before), len(after))
    parts = []
    for i in range(count):
        b = before[i] if i < len(before) else None
        a = after[i] if i < len(after) else None
        if b is not None or a is not None:
            label = "loss" if count == 1 else f"trajectory {i + 1}"
            parts.append(f"{label}: original {b or '-'}, fixed {a or '-'}")
    described = "; ".join(parts)
    if count > 1 and not (trains_after and all(t is None or t.decreased for t in after)):
        # Several optimizers stepping against each other (a GAN): one player's loss rises as the
        # other's falls, so a falling loss is no sign of training. Finiteness and the summed
        # final loss (no-worse) judge such runs instead.
        return Check(
            "trains",
            None,
            f"not applicable: {count} optimizers train adversarially, so their losses need not "
            f"fall; judged by finiteness and the summed final loss instead ({described})",
        )
    if trains_after:
        return Check("trains", True, described)
    if trains_before:
        return Check("trains", False, f"the fixed version stopped training: {described}")
    return Check(
        "trains",
        None,
        f"neither run's loss went down over {original.steps} steps (too few steps?): {described}",
    )


def judge(
    device: str,
    original: RunOutcome,
    fixed: RunOutcome | None,
    mode: str,
    *,
    tolerance: float = 0.1,
    match_rtol: float = 1e-3,
    required: bool = True,
) -> DeviceVerdict:
    """The verdict for one device. ``fixed`` is None when no fix changed the script."""
    verdict = DeviceVerdict(
        device=device, outcome=Outcome.PASS, summary="", original=original, fixed=fixed
    )
    checks = verdict.checks

    if original.status == "no-cuda":
        verdict.outcome = Outcome.INCONCLUSIVE if required else Outcome.SKIPPED
        verdict.summary = "no CUDA device is available: the CUDA runs were skipped"
        return verdict

    if not original.trained:
        verdict.outcome = Outcome.INCONCLUSIVE
        verdict.summary = f"nothing to compare: the original {original.describe()}"
        checks.append(Check("runs", None, f"original: {original.describe()}"))
        if fixed is not None:
            checks.append(Check("runs", fixed.trained or None, f"fixed: {fixed.describe()}"))
        return verdict

    broken = _non_finite_final(original)
    if broken is not None and (fixed is None or (fixed.trained and _non_finite_final(fixed))):
        verdict.outcome = Outcome.INCONCLUSIVE
        verdict.summary = f"nothing to compare: the original does not train: {broken}"
        checks.append(Check("finite", None, f"original: {broken}"))
        if fixed is None:
            verdict.summary += "; no fix applies"
        else:
            checks.append(Check("finite", None, f"fixed: {_non_finite_final(fixed)}"))
        return verdict

    if fixed is None:  # no fix applied: the original is all there is
        verdict.summary = f"no fix applies; the original {original.describe()}"
        checks.append(Check("runs", True, f"original: {original.describe()}"))
        found = [t for t in trends(original) if t is not None]
        described = "; ".join(f"loss {t}" for t in found) or "too few losses to judge"
        # Informative only (ok is True or None): there is no fix to blame.
        checks.append(Check("trains", True if any(t.decreased for t in found) else None, described))
        return verdict

    # runs
    if not fixed.trained:
        checks.append(Check("runs", False, f"fixed: {fixed.describe()}"))
        verdict.outcome = Outcome.FAIL
        verdict.summary = f"the fixed version {fixed.describe()}"
        return verdict
    if fixed.steps < original.steps:
        checks.append(
            Check(
                "runs",
                False,
                f"the fixed version {fixed.describe()}; the original {original.describe()}",
            )
        )
    else:
        checks.append(
            Check("runs", True, f"original {original.describe()}; fixed {fixed.describe()}")
        )

    checks.append(_finite_check(original, fixed))

    checks.append(_trains_check(original, fixed))

    difference = first_difference(original.losses, fixed.losses, match_rtol)
    if mode == CompareMode.MATCH:
        if difference is None:
            checks.append(Check("matches", True, _agreement_text(original, fixed, match_rtol)))
        else:
            checks.append(
                Check(
                    "matches",
                    False,
                    _difference_text(original, fixed, difference)
                    + ": a behaviour-preserving fix changed the trajectory",
                )
            )
    else:
        checks.append(_no_worse_check(original, fixed, tolerance, difference, match_rtol))

    failed = [c for c in checks if c.ok is False]
    if failed:
        verdict.outcome = Outcome.FAIL
        verdict.summary = "; ".join(c.detail for c in failed)
    else:
        verdict.summary = _pass_summary(mode, checks, original, fixed)
    return verdict


def _non_finite(values: list[float | None]) -> list[int]:
    return [i for i, v in enumerate(values) if v is not None and not math.isfinite(v)]


def _non_finite_final(run: RunOutcome) -> str | None:
    """Why ``run``'s final loss is not finite (None: it is finite, or there are too few losses)."""
    final = final_loss(run)
    if final is None or math.isfinite(final):
        return None
    bad = _non_finite(run.losses)
    if not bad:  # finite losses whose sum overflowed
        return f"its final loss is {_fmt(final)}"
    return (
        f"its final loss is {_fmt(final)} ({len(bad)} of {len(run.losses)} losses are not "
        f"finite, the first at backward #{bad[0] + 1})"
    )


def _finite_check(original: RunOutcome, fixed: RunOutcome) -> Check:
    bad, before = _non_finite(fixed.losses), _non_finite(original.losses)
    if not bad:
        return Check("finite", True, "every loss is finite")
    where = f"fixed loss is {_fmt(fixed.losses[bad[0]])} at backward #{bad[0] + 1}"
    if before and len(bad) <= len(before):
        # The original's loss was not finite either, as often: not the fix's doing.
        return Check(
            "finite",
            None,
            f"{where}; {len(bad)} non-finite losses, the original had {len(before)}",
        )
    note = f" (the original had {len(before)} non-finite losses)" if before else ""
    return Check("finite", False, f"{where}{note}")


def _identical(original: RunOutcome, fixed: RunOutcome) -> bool:
    """The very same loss values (NaN where NaN), not merely within a tolerance."""
    a, b = original.losses, fixed.losses
    return len(a) == len(b) and all(
        x == y or (x is not None and y is not None and math.isnan(x) and math.isnan(y))
        for x, y in zip(a, b, strict=True)
    )


def _largest_difference(original: RunOutcome, fixed: RunOutcome) -> tuple[float, int]:
    """The largest relative difference between the two trajectories, and its backward index."""
    largest, where = 0.0, 0
    for index, (x, y) in enumerate(zip(original.losses, fixed.losses, strict=False)):
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            continue
        scale = max(abs(x), abs(y))
        relative = abs(x - y) / scale if scale else 0.0
        if relative > largest:
            largest, where = relative, index
    return largest, where


def _agreement_text(original: RunOutcome, fixed: RunOutcome, match_rtol: float) -> str:
    """How two trajectories that agree within ``match_rtol`` agree: exactly, or how closely."""
    if _identical(original, fixed):
        return "trajectories identical: every loss is the same value"
    largest, where = _largest_difference(original, fixed)
    return (
        f"trajectories agree within rtol {match_rtol:g}, not exactly (largest relative "
        f"difference {largest:.1e}, at backward #{where + 1})"
    )


def _difference_text(original: RunOutcome, fixed: RunOutcome, index: int) -> str:
    if index >= min(len(original.losses), len(fixed.losses)):
        return (
            f"the runs made different numbers of backward calls "
            f"({len(original.losses)} vs {len(fixed.losses)})"
        )
    return (
        f"first difference at backward #{index + 1}: original {_fmt(original.losses[index])}, "
        f"fixed {_fmt(fixed.losses[index])}"
    )


def _no_worse_check(
    original: RunOutcome,
    fixed: RunOutcome,
    tolerance: float,
    difference: int | None,
    match_rtol: float,
) -> Check:
    if _identical(original, fixed):
        return Check(
            "no-worse",
            True,
            "trajectories identical: the fixes did not change what the loss computes",
        )
    before, after = final_loss(original), final_loss(fixed)
    start = initial_loss(original)
    if before is None or after is None or start is None:
        return Check("no-worse", None, "too few losses to compare")
    if not math.isfinite(after) and math.isfinite(before):
        return Check(
            "no-worse",
            False,
            f"the fixed version's final loss is {_fmt(after)} (original: {_fmt(before)})",
        )
    if not math.isfinite(before):
        return Check(
            "no-worse",
            math.isfinite(after) or None,
            f"final loss: original {_fmt(before)}, fixed {_fmt(after)}",
        )
    slack = tolerance * max(abs(before), 0.05 * abs(start))
    change = (after - before) / abs(before) if before else 0.0
    text = f"final loss {_fmt(after)} vs {_fmt(before)} originally ({change:+.1%})"
    if difference is None:  # the fixes changed the numbers, if only just
        text = f"{_agreement_text(original, fixed, match_rtol)}; {text}"
    if after <= before + slack:
        return Check("no-worse", True, text)
    return Check(
        "no-worse",
        False,
        f"the fixed version trains worse: {text}, beyond the {tolerance:.0%} tolerance",
    )


def _pass_summary(mode: str, checks: list[Check], original: RunOutcome, fixed: RunOutcome) -> str:
    if mode == CompareMode.MATCH:
        return "the fixed version trains and its loss trajectory matches the original's"
    no_worse = next(c for c in checks if c.name == "no-worse")
    if no_worse.detail.startswith("trajectories identical"):
        return "the fixed version trains; its loss trajectory is the original's"
    before, after = final_loss(original), final_loss(fixed)
    return f"the fixed version trains at least as well: final loss {_fmt(after)} vs {_fmt(before)}"
