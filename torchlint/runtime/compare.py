"""Verdicts: does the fixed run still train, and how does it compare with the original run?

Pure functions over two :class:`~torchlint.runtime.runs.RunOutcome` values (no torch here), so the
rules of judgement are testable on their own:

- *runs*: the fixed version makes as many optimizer steps as the original did, without crashing;
- *finite*: every loss the fixed version backpropagated is finite;
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torchlint.runtime.runs import RunOutcome

MIN_DECREASE = 0.01  # a loss "went down" when it fell by more than 1% of its starting value


class Mode:
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
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _finite(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


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

    # finite
    bad = next(
        (i for i, v in enumerate(fixed.losses) if v is not None and not math.isfinite(v)), None
    )
    if bad is not None:
        note = (
            ""
            if _finite(original.losses) == [v for v in original.losses if v is not None]
            else " (the original's loss was not finite either)"
        )
        checks.append(
            Check(
                "finite",
                False,
                f"fixed loss is {_fmt(fixed.losses[bad])} at backward #{bad + 1}{note}",
            )
        )
    else:
        checks.append(Check("finite", True, "every loss is finite"))

    checks.append(_trains_check(original, fixed))

    difference = first_difference(original.losses, fixed.losses, match_rtol)
    if mode == Mode.MATCH:
        if difference is None:
            checks.append(Check("matches", True, f"trajectories agree within rtol {match_rtol:g}"))
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
    if difference is None:
        return Check(
            "no-worse",
            True,
            f"trajectories identical (within rtol {match_rtol:g}): the fixes did not "
            "change what the loss computes",
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
    if after <= before + slack:
        return Check("no-worse", True, text)
    return Check(
        "no-worse",
        False,
        f"the fixed version trains worse: {text}, beyond the {tolerance:.0%} tolerance",
    )


def _pass_summary(mode: str, checks: list[Check], original: RunOutcome, fixed: RunOutcome) -> str:
    if mode == Mode.MATCH:
        return "the fixed version trains and its loss trajectory matches the original's"
    no_worse = next(c for c in checks if c.name == "no-worse")
    if no_worse.detail.startswith("trajectories identical"):
        return "the fixed version trains; its loss trajectory is the original's"
    before, after = final_loss(original), final_loss(fixed)
    return f"the fixed version trains at least as well: final loss {_fmt(after)} vs {_fmt(before)}"
