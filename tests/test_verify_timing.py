"""`verify --repeats`: interleaved timing runs, the bootstrap interval, "no measurable difference"."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchlint.cli import main
from torchlint.runtime import verify
from torchlint.runtime.report import markdown_table, render_json, render_text
from torchlint.runtime.runs import RunOutcome, RunSpec
from torchlint.runtime.stats import (
    MIN_PAIRS,
    NO_DIFFERENCE,
    bootstrap_median_ci,
    compare,
    median,
)
from torchlint.runtime.timing import sample

# A step is dominated by a fixed sleep: two copies of this script run at the same speed.
SCRIPT = """\
import time
import torch

torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randn(16, 1)
for step in range(1000):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    time.sleep(0.02)
"""


# -- the statistics ----------------------------------------------------------------------------


def test_median() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_bootstrap_is_seeded_and_brackets_the_median() -> None:
    rng = random.Random(1)
    values = [1.0 + rng.gauss(0, 0.05) for _ in range(40)]
    low, high = bootstrap_median_ci(values, seed=3)
    assert (low, high) == bootstrap_median_ci(values, seed=3)
    assert low <= median(values) <= high
    assert high - low < 0.1


def test_bootstrap_of_constant_values_is_a_point() -> None:
    assert bootstrap_median_ci([2.0] * 7) == (2.0, 2.0)


def test_bootstrap_coverage_is_near_95_percent() -> None:
    """Over many samples from a known distribution, the interval holds the true median ~95%."""
    rng = random.Random(7)
    hits = 0
    trials = 200
    for trial in range(trials):
        values = [rng.gauss(10.0, 1.0) for _ in range(25)]
        low, high = bootstrap_median_ci(values, resamples=500, seed=trial)
        hits += low <= 10.0 <= high
    assert 0.88 <= hits / trials <= 0.99


def test_a_clear_speed_up_is_called() -> None:
    before = [100.0, 101.0, 99.0, 100.5, 100.2, 99.8]
    after = [v * 1.3 for v in before]
    result = compare("steps_per_s", before, after, up="faster", down="slower")
    assert result.kind == "ratio"
    assert result.estimate == pytest.approx(1.3)
    assert result.verdict == "faster" and result.measured
    assert result.low == pytest.approx(1.3) and result.high == pytest.approx(1.3)
    assert result.describe().startswith("×1.300 [1.300, 1.300]: faster")


def test_noise_in_both_directions_is_no_measurable_difference() -> None:
    before = [100.0] * 8
    after = [103.0, 97.0, 102.0, 98.0, 101.0, 99.0, 104.0, 96.0]
    result = compare("steps_per_s", before, after, up="faster", down="slower")
    assert result.low is not None and result.low < 1 < result.high  # type: ignore[operator]
    assert result.verdict == NO_DIFFERENCE and not result.measured


def test_a_change_under_the_resolution_is_no_measurable_difference() -> None:
    before = [100.0] * 6
    after = [100.5] * 6
    assert compare("s", before, after).verdict == "higher"
    assert compare("s", before, after, resolution=0.01).verdict == NO_DIFFERENCE


def test_too_few_pairs_give_no_interval() -> None:
    result = compare("s", [1.0] * (MIN_PAIRS - 1), [2.0] * (MIN_PAIRS - 1))
    assert result.low is None and result.verdict == "too few runs" and not result.measured


def test_zero_before_compares_differences() -> None:
    result = compare("syncs", [0.0] * 6, [1.0] * 6, up="more syncs", down="fewer syncs")
    assert result.kind == "difference" and result.estimate == 1.0
    assert result.verdict == "more syncs"
    same = compare("syncs", [0.0] * 6, [0.0] * 6)
    assert same.verdict == NO_DIFFERENCE
    assert json.dumps(same.to_dict())  # JSON-ready, samples included
    assert same.to_dict()["samples_before"] == [0.0] * 6


def test_unpaired_samples_are_refused() -> None:
    with pytest.raises(ValueError):
        compare("s", [1.0, 2.0], [1.0])


# -- the interleaved sampling --------------------------------------------------------------------


def _fake_runner(order: list[str], speeds: dict[str, list[float]]):  # type: ignore[no-untyped-def]
    def run(spec: RunSpec, workdir: Path) -> RunOutcome:
        which = "fixed" if spec.source is not None else "original"
        order.append(which)
        return RunOutcome(
            status="completed",
            device="cuda",
            steps=10,
            steps_per_s=speeds[which].pop(0),
            syncs_per_step=2.0 if which == "original" else 1.0,
            peak_memory=1000,
        )

    return run


def test_sample_interleaves_and_stops_when_the_interval_is_tight(tmp_path: Path) -> None:
    order: list[str] = []
    speeds = {"original": [100.0] * 20, "fixed": [150.0] * 20}
    spec = RunSpec(script=tmp_path / "a.py", device="cuda", steps=10)
    fixed = RunSpec(script=tmp_path / "a.py", device="cuda", steps=10, source=tmp_path / "b.py")
    timing = sample(
        spec, fixed, tmp_path, repeats=20, time_budget=None, runner=_fake_runner(order, speeds)
    )
    assert order[:6] == ["original", "fixed", "fixed", "original", "original", "fixed"]
    assert timing.pairs == MIN_PAIRS and timing.stopped == "interval tight"
    assert timing.comparisons["steps_per_s"].verdict == "faster"
    assert timing.comparisons["syncs_per_step"].verdict == "fewer syncs"
    assert timing.comparisons["peak_memory"].verdict == NO_DIFFERENCE
    payload = timing.to_dict()
    assert payload["comparisons"]["steps_per_s"]["samples_after"] == [150.0] * MIN_PAIRS


def test_sample_stops_at_the_time_budget(tmp_path: Path) -> None:
    order: list[str] = []
    speeds = {"original": [100.0, 50.0] * 30, "fixed": [50.0, 100.0] * 30}
    spec = RunSpec(script=tmp_path / "a.py", device="cuda", steps=10)
    fixed = RunSpec(script=tmp_path / "a.py", device="cuda", steps=10, source=tmp_path / "b.py")
    timing = sample(
        spec, fixed, tmp_path, repeats=None, time_budget=1e-9, runner=_fake_runner(order, speeds)
    )
    assert timing.stopped == "time budget" and timing.pairs == 0


# -- end to end, on the CPU ---------------------------------------------------------------------


@pytest.mark.slow  # two verify runs per pair, several pairs
def test_two_identical_scripts_show_no_measurable_difference(tmp_path: Path) -> None:
    original = tmp_path / "train.py"
    original.write_text(SCRIPT)
    copy = tmp_path / "copy.py"
    copy.write_text(SCRIPT + "# the same script\n")
    # A 95% interval excludes 1 for identical scripts one time in twenty, by construction; when
    # that happens (the median ratio must then also be more than 1% off), the test looks once more.
    for _attempt in range(2):
        result = verify(original, copy, device="cpu", steps=12, repeats=MIN_PAIRS)
        assert result.exit_code == 0
        timing = result.devices[0].timing
        assert timing is not None
        if timing.comparisons["steps_per_s"].verdict == NO_DIFFERENCE:
            break
    payload = json.loads(render_json(result))
    timing = payload["devices"][0]["timing"]
    assert timing["pairs"] == MIN_PAIRS
    speed = timing["comparisons"]["steps_per_s"]
    assert speed["verdict"] == NO_DIFFERENCE, speed
    assert len(speed["samples_before"]) == len(speed["samples_after"]) == MIN_PAIRS
    text = render_text(result)
    assert "no measurable difference" in text and "interleaved pairs" in text, text


def test_the_command_takes_repeats_and_a_time_budget(tmp_path: Path) -> None:
    original = tmp_path / "train.py"
    original.write_text(SCRIPT)
    result = CliRunner().invoke(
        main, ["verify", str(original), "--repeats", "-1", "--time-budget", "5"]
    )
    assert result.exit_code == 2 and "--repeats" in result.output


def test_the_markdown_table_shows_the_interval_when_timed() -> None:
    speed = compare("steps_per_s", [100.0] * 5, [150.0] * 5, up="faster", down="slower")
    payload = {
        "script": "train.py",
        "fixed": None,
        "fixes": [{"code": "TL101"}],
        "devices": [
            {
                "device": "cuda",
                "outcome": "pass",
                "perf": {"steps_per_s": [99.0, 151.0], "syncs_per_step": [2.0, 1.0]},
                "timing": {"comparisons": {"steps_per_s": speed.to_dict()}},
            }
        ],
    }
    table = markdown_table([payload])
    assert "| 100 → 150 (×1.50 [1.50, 1.50], 5 pairs: faster) | 2 → 1 |" in table, table
