"""`torchlint verify`: fixed training scripts still train (runtime verification).

Every run is a real child process that trains with torch. On a machine with an NVIDIA GPU, run this
file with ``TORCHLINT_VERIFY_DEVICE=all`` to verify on CPU and CUDA (the default is ``cpu``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchlint.cli import main
from torchlint.registry import find_rule
from torchlint.runtime import verify
from torchlint.runtime.api import VerifyResult
from torchlint.runtime.compare import CompareMode, Outcome, first_difference, judge
from torchlint.runtime.report import markdown_table, render_text
from torchlint.runtime.runs import RunOutcome

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "fixtures" / "train"
DATA = ROOT / "tests" / "data" / "verify"
MLP = TRAIN / "mlp_classifier.py"
DEVICE = os.environ.get("TORCHLINT_VERIFY_DEVICE", "cpu")
STEPS = 30

SCRIPTS = sorted(TRAIN.glob("*.py"))
# Fixes that change what the loss computes (the rest leave the trajectory as it was).
CHANGES_LOSS = {"TL001", "TL002"}


def _devices(result):
    """The verdicts that must pass: CPU always, CUDA where the machine has one."""
    return [v for v in result.devices if v.outcome != Outcome.SKIPPED]


def _marked_codes(script: Path) -> set[str]:
    return set(re.findall(r"# anti-pattern: (TL\d{3})", script.read_text(encoding="utf-8")))


def _fixable(code: str, unsafe: bool) -> bool:
    rule = find_rule(code)
    if rule is None or rule.fix_applicability is None:
        return False
    return rule.fix_applicability.value == "safe" or (
        unsafe and rule.fix_applicability.value == "unsafe"
    )


def test_fixtures_are_complete_training_scripts():
    assert len(SCRIPTS) >= 6
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        assert 'torch.device("cuda" if torch.cuda.is_available() else "cpu")' in text, script
        assert len(_marked_codes(script)) >= 3, f"{script.name}: needs several anti-patterns"
        fixable = {code for code in _marked_codes(script) if _fixable(code, unsafe=True)}
        assert len(fixable) >= 3, f"{script.name}: needs several fixable anti-patterns: {fixable}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_unsafe_fixes_still_train(script: Path):
    result = verify(script, unsafe_fixes=True, device=DEVICE, steps=STEPS)
    report = render_text(result)
    assert result.exit_code == 0, report
    applied = {fix.code for fix in result.fixes}
    expected = {code for code in _marked_codes(script) if _fixable(code, unsafe=True)}
    assert expected <= applied, f"fixes not applied: {expected - applied}\n{report}"
    unsafe = any(fix.applicability == "unsafe" for fix in result.fixes)
    assert result.mode == (
        CompareMode.TRAIN
        if unsafe
        else CompareMode.MATCH
        if result.fixes
        else CompareMode.UNCHANGED
    )
    for verdict in _devices(result):
        assert verdict.outcome == Outcome.PASS, report
        assert verdict.original.status == verdict.fixed.status == "completed", report
        assert verdict.fixed.steps == STEPS
        assert all(check.ok is not False for check in verdict.checks), report
        trains = next(c for c in verdict.checks if c.name == "trains")
        if script.stem == "gan":
            # Adversarial losses need not fall; no-worse on the summed loss decides instead.
            assert trains.ok is None and "adversarially" in trains.detail, report
        else:
            assert trains.ok, report
        same = first_difference(verdict.original.losses, verdict.fixed.losses, 1e-3) is None
        # Removing empty_cache, weights_only=True, set_to_none, device=...: the same numbers.
        assert same == (not applied & CHANGES_LOSS), report
        if verdict.device == "cuda":
            perf = verdict.perf
            assert perf and all(v and v > 0 for v in perf["steps_per_s"]), report
            assert all(v is not None for v in perf["syncs_per_step"]), report


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_safe_fixes_keep_the_trajectory(script: Path):
    result = verify(script, unsafe_fixes=False, device=DEVICE, steps=STEPS)
    report = render_text(result)
    assert all(fix.applicability == "safe" for fix in result.fixes)
    assert result.mode in (CompareMode.MATCH, CompareMode.UNCHANGED)
    assert result.exit_code == 0, report
    if result.mode == CompareMode.MATCH:
        for verdict in _devices(result):
            assert next(c for c in verdict.checks if c.name == "matches").ok, report


def test_softmax_fix_trains_better():
    result = verify(MLP, unsafe_fixes=True, device="cpu", steps=STEPS)
    if "TL002" not in {fix.code for fix in result.fixes}:
        pytest.skip("TL002 offers no fix")
    cpu = result.device("cpu")
    no_worse = next(c for c in cpu.checks if c.name == "no-worse")
    assert no_worse.ok and "final loss" in no_worse.detail
    assert cpu.fixed.losses[-1] < 0.5 * cpu.original.losses[-1]


# -- deliberately broken fixes are caught ---------------------------------------------------------


def _broken(name: str, **options):
    result = verify(MLP, DATA / name, device=DEVICE, steps=STEPS, **options)
    assert result.fixed_path and result.mode in (CompareMode.TRAIN, CompareMode.MATCH)
    return result, result.device("cpu"), render_text(result)


def test_fix_that_crashes_is_caught():
    result, cpu, report = _broken("mlp_crashes.py")
    assert result.exit_code == 1, report
    assert cpu.outcome == Outcome.FAIL
    assert cpu.fixed.status == "crashed"
    assert "crashed before training: NameError: name 'logit' is not defined" in cpu.summary
    assert "loss = F.cross_entropy(logit, labels)" in report  # the traceback's last lines


def test_fix_that_stops_training_is_caught():
    result, cpu, report = _broken("mlp_stops_training.py")
    assert result.exit_code == 1, report
    trains = next(c for c in cpu.checks if c.name == "trains")
    assert trains.ok is False and "stopped training" in trains.detail, report


def test_fix_that_trains_worse_is_caught():
    result, cpu, report = _broken("mlp_trains_worse.py")
    assert result.exit_code == 1, report
    checks = {c.name: c for c in cpu.checks}
    assert checks["runs"].ok and checks["finite"].ok
    assert checks["no-worse"].ok is False and "trains worse" in checks["no-worse"].detail


def test_fix_that_diverges_is_caught():
    result, cpu, report = _broken("mlp_diverges.py")
    assert result.exit_code == 1, report
    finite = next(c for c in cpu.checks if c.name == "finite")
    assert finite.ok is False and re.search(r"fixed loss is (nan|inf)", finite.detail), report


def test_behaviour_preserving_fix_must_match():
    result, cpu, report = _broken("mlp_trains_worse.py", compare="match")
    assert result.mode == CompareMode.MATCH
    assert result.exit_code == 1, report
    matches = next(c for c in cpu.checks if c.name == "matches")
    assert matches.ok is False and "first difference at backward #1" in matches.detail


def test_removing_item_syncs_trains_as_well():
    result = verify(MLP, TRAIN / "manual" / "mlp_classifier_no_item.py", device=DEVICE, steps=STEPS)
    assert result.exit_code == 0, render_text(result)
    cuda = result.device("cuda")
    if cuda is not None and cuda.outcome != Outcome.SKIPPED:
        before, after = cuda.perf["syncs_per_step"]
        assert after <= before - 1.9, render_text(result)  # loss.item() and correct.item()


# -- bad input gets a clear verdict, never a hang ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("crash_before_training.py", "crashed", "crashed before training: FileNotFoundError"),
        ("no_backward.py", "no-backward", "never called backward()"),
        ("no_step.py", "no-step", "never stepped a torch.optim optimizer"),
        ("needs_cuda.py", "crashed", "needs CUDA"),
    ],
)
def test_bad_input_is_inconclusive(name: str, status: str, words: str):
    result = verify(DATA / name, device="cpu", steps=STEPS)
    cpu = result.device("cpu")
    assert cpu.outcome == Outcome.INCONCLUSIVE, render_text(result)
    assert cpu.original.status == status
    assert words in cpu.summary
    assert result.exit_code == 2


def test_hanging_script_times_out():
    started = time.monotonic()
    result = verify(DATA / "hangs.py", device="cpu", steps=STEPS, timeout=3)
    assert time.monotonic() - started < 60
    cpu = result.device("cpu")
    assert cpu.original.status == "timeout"
    assert "timeout" in cpu.summary and result.exit_code == 2


def test_script_that_ends_early_is_judged_on_what_it_did():
    result = verify(DATA / "short_run.py", device="cpu", steps=STEPS)
    cpu = result.device("cpu")
    assert result.exit_code == 0 and cpu.original.status == "finished"
    assert cpu.original.steps == 6 and "ended by itself after 6 optimizer steps" in cpu.summary


def test_cuda_device_requires_a_gpu():
    result = verify(DATA / "short_run.py", device="cuda", steps=STEPS)
    cuda = result.device("cuda")
    if cuda.original.status == "no-cuda":
        assert cuda.outcome == Outcome.INCONCLUSIVE and result.exit_code == 2
        assert "no CUDA device" in cuda.summary
    else:
        assert cuda.outcome == Outcome.PASS and result.exit_code == 0


def test_killed_run_names_the_signal(monkeypatch: pytest.MonkeyPatch):
    # As the OOM killer kills a process: no result, and the exit status says why. Both ways of
    # starting a run (forked from the fork server, spawned afresh) must tell it.
    for no_fork in ("", "1"):
        monkeypatch.setenv("TORCHLINT_VERIFY_NO_FORK", no_fork)
        result = verify(DATA / "kills_itself.py", device="cpu", steps=STEPS)
        cpu = result.device("cpu")
        report = render_text(result)
        assert cpu.outcome == Outcome.INCONCLUSIVE and result.exit_code == 2, report
        assert cpu.original.status == "killed" and cpu.original.exit_code == -9, report
        assert "the original was killed by SIGKILL (out of memory?)" in cpu.summary, report
        assert "could not be started" not in report


def test_fixed_version_that_exits_abruptly_fails():
    result = verify(DATA / "short_run.py", DATA / "short_run_exits.py", device="cpu", steps=STEPS)
    cpu = result.device("cpu")
    assert result.exit_code == 1 and cpu.outcome == Outcome.FAIL, render_text(result)
    assert cpu.fixed.status == "exited" and cpu.fixed.exit_code == 3
    assert "the fixed version exited with code 3 (os._exit()" in cpu.summary


def test_original_with_a_nan_loss_is_inconclusive():
    # Nothing to fix, and the original does not train: that is no pass.
    result = verify(DATA / "nan_loss.py", device="cpu", steps=STEPS)
    cpu = result.device("cpu")
    assert result.mode == CompareMode.UNCHANGED
    assert cpu.outcome == Outcome.INCONCLUSIVE and result.exit_code == 2, render_text(result)
    assert "the original does not train: its final loss is nan" in cpu.summary


def test_needs_cuda_on_every_device_is_inconclusive():
    # The CPU run cannot be compared; a CUDA pass (on a machine with a GPU) does not make it 0.
    result = verify(DATA / "needs_cuda.py", device="all", steps=STEPS)
    report = render_text(result)
    assert result.device("cpu").outcome == Outcome.INCONCLUSIVE, report
    assert result.device("cuda").outcome in (Outcome.PASS, Outcome.SKIPPED), report
    assert result.exit_code == 2 and "result: INCONCLUSIVE (exit 2)" in report


# -- the fixed version runs as the original does ---------------------------------------------------


def test_fixed_version_runs_under_the_original_name():
    # It reads scale.txt beside itself through __file__ and checks sys.argv[0] and sys.path[0]:
    # torchlint's fixed copy must see what the original sees.
    result = verify(DATA / "beside" / "reads_beside_itself.py", device=DEVICE, steps=STEPS)
    report = render_text(result)
    assert [fix.code for fix in result.fixes] == ["TL103"]
    assert result.exit_code == 0, report
    for verdict in _devices(result):
        assert verdict.fixed.status == "completed", report
        assert next(c for c in verdict.checks if c.name == "matches").ok, report


def test_fixed_traceback_shows_the_lines_that_ran(tmp_path: Path):
    # TL001's fix inserts a line, so the crash is one line further down in the fixed version.
    # The script stands for a user's training script, but it lives under tests/, which is test
    # code by default, where TL001 is quiet: a config with no test code.
    config = tmp_path / "torchlint.toml"
    config.write_text("test-code = []\n", encoding="utf-8")
    result = verify(
        DATA / "fails_late.py", unsafe_fixes=True, device="cpu", steps=STEPS, config=config
    )
    cpu = result.device("cpu")
    assert [fix.code for fix in result.fixes] == ["TL001"]
    crash = 'raise RuntimeError("the data ran out")'
    line = 1 + next(
        i for i, text in enumerate(result.original_source.splitlines()) if crash in text
    )
    script = str((DATA / "fails_late.py").resolve())
    original, fixed = cpu.original.error["traceback"], cpu.fixed.error["traceback"]
    assert f'  File "{script}", line {line}, in <module>' in original
    assert f'  File "{script} (fixed)", line {line + 1}, in <module>' in fixed
    assert fixed[fixed.index(f'  File "{script} (fixed)", line {line + 1}, in <module>') + 1] == (
        f"    {crash}"
    )


def test_fixed_version_that_does_not_compile_shows_its_own_line(tmp_path: Path):
    # compile() reads the line it shows from the file its name points to: the original's.
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nweights = (1.0,\n", encoding="utf-8")
    result = verify(DATA / "short_run.py", broken, device="cpu", steps=STEPS)
    cpu = result.device("cpu")
    assert cpu.outcome == Outcome.FAIL and cpu.fixed.error["type"] == "SyntaxError"
    assert cpu.fixed.error["traceback"][:2] == [
        f'  File "{os.path.abspath(broken)}", line 2',
        "    weights = (1.0,",
    ], cpu.fixed.error["traceback"]


def test_spawned_workers_import_the_fixed_version():
    # A spawn child imports __main__ again from its file: for the fixed run, the fixed code under
    # the original's name. The given fixed file lives where there is no scale.txt, and its worker
    # computes other inputs than the original's.
    result = verify(
        DATA / "beside" / "spawns_worker.py",
        DATA / "elsewhere" / "spawns_worker_fixed.py",
        device="cpu",
        steps=STEPS,
    )
    cpu = result.device("cpu")
    report = render_text(result)
    assert cpu.original.status == cpu.fixed.status == "completed", report
    assert cpu.original.losses[0] != cpu.fixed.losses[0], report  # the worker ran the fixed code


def test_cwd_runs_both_in_the_folder(tmp_path: Path):
    script = DATA / "beside" / "reads_cwd.py"  # opens scale.txt in its working directory
    result = verify(script, device="cpu", steps=STEPS)
    cpu = result.device("cpu")
    assert cpu.outcome == Outcome.INCONCLUSIVE and result.exit_code == 2, render_text(result)
    assert "each run starts in a fresh, empty working directory" in cpu.summary
    assert "scale.txt is in" in cpu.summary and "--cwd" in cpu.summary

    for name in ("reads_cwd.py", "scale.txt"):
        shutil.copy(DATA / "beside" / name, tmp_path / name)
    out = tmp_path / "report.json"
    outcome = CliRunner().invoke(
        main,
        ["verify", str(tmp_path / "reads_cwd.py"), "--device", "cpu", "--steps", str(STEPS)]
        + ["--cwd", str(tmp_path), "--output-format", "json", "-o", str(out)],
    )
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert outcome.exit_code == 0, json.dumps(payload["devices"], indent=1)
    assert payload["cwd"] == str(tmp_path.resolve())
    assert (tmp_path / "checkpoint.pt").is_file()
    # The original's checkpoints were there for the fixed run to read: verify says so.
    assert any("the original run on cpu wrote checkpoint.pt" in w for w in payload["warnings"])


# -- the command ----------------------------------------------------------------------------------


def test_cli_json_and_exit_code_for_a_broken_fix():
    runner = CliRunner()
    outcome = runner.invoke(
        main,
        [
            "verify",
            str(MLP),
            "--fixed",
            str(DATA / "mlp_crashes.py"),
            "--device",
            "cpu",
            "--steps",
            str(STEPS),
            "--output-format",
            "json",
        ],
    )
    assert outcome.exit_code == 1, outcome.output
    payload = json.loads(outcome.output)
    assert payload["exit_code"] == 1 and payload["passed"] is False
    cpu = payload["devices"][0]
    assert cpu["device"] == "cpu" and cpu["outcome"] == "fail"
    assert cpu["fixed"]["status"] == "crashed"
    assert cpu["fixed"]["error"]["type"] == "NameError"
    assert len(cpu["original"]["losses"]) == STEPS
    assert "logit" in payload["diff"]


def test_cli_text_for_fixed_script(tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "report.txt"
    outcome = runner.invoke(
        main,
        [
            "verify",
            str(TRAIN / "checkpoint_roundtrip.py"),
            "--unsafe-fixes",
            "--device",
            "cpu",
            "--steps",
            "20",
            "-o",
            str(out),
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    text = out.read_text(encoding="utf-8")
    assert "TL201" in text and "weights_only=True" in text
    assert "cpu: pass" in text and "result: pass (exit 0)" in text


@pytest.mark.parametrize(
    "arguments",
    [
        ["verify", "does-not-exist.py"],
        ["verify", str(MLP), "--device", "tpu"],
        ["verify", str(MLP), "--steps", "1"],
    ],
)
def test_cli_usage_errors_exit_2(arguments: list[str]):
    outcome = CliRunner().invoke(main, arguments)
    assert outcome.exit_code == 2


def test_cli_missing_python_is_a_usage_error():
    outcome = CliRunner().invoke(main, ["verify", str(MLP), "--python", "/nonexistent/python3"])
    assert outcome.exit_code == 2, outcome.output
    assert "'/nonexistent/python3' does not exist" in outcome.output
    outcome = CliRunner().invoke(main, ["verify", str(MLP), "--python", "no-such-python-here"])
    assert outcome.exit_code == 2 and "is not on PATH" in outcome.output, outcome.output


def test_every_verify_option_is_documented():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Runtime verification") :]
    section = section[: section.index("\n## ", 1)]
    from torchlint.runtime.command import verify_command

    for param in verify_command.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert re.search(rf"[`/]{re.escape(opt)}[ `]", section), opt


def test_gan_fixes_agree_within_tolerance_but_not_exactly():
    # TL001 changes the generator's updates: after 10 steps the trajectories are within rtol 1e-3
    # of each other, which is no reason to call them identical.
    result = verify(TRAIN / "gan.py", unsafe_fixes=True, device="cpu", steps=10)
    cpu = result.device("cpu")
    no_worse = next(c for c in cpu.checks if c.name == "no-worse")
    assert first_difference(cpu.original.losses, cpu.fixed.losses, 1e-3) is None
    assert cpu.original.losses != cpu.fixed.losses
    assert "identical" not in no_worse.detail and "not exactly" in no_worse.detail
    assert "final loss" in no_worse.detail and "identical" not in cpu.summary


def test_importing_the_linter_does_not_import_torch():
    code = (
        "import sys, torchlint.cli, torchlint.runtime, torchlint.runtime.command\n"
        "from torchlint.runtime import verify\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- verdict rules, on recorded runs (no torch) ---------------------------------------------------


def _run(losses, streams=None, status="completed"):
    return RunOutcome(
        status=status,
        device="cpu",
        steps=len(losses),
        backwards=len(losses),
        losses=list(losses),
        loss_streams=streams or [0] * len(losses),
    )


def test_two_optimizer_trajectories_are_judged_separately():
    # A GAN: the discriminator's loss falls, the generator's rises: it still trains.
    d = [1.4 - 0.02 * i for i in range(10)]
    g = [0.6 + 0.01 * i for i in range(10)]
    original = _run([v for pair in zip(d, g, strict=True) for v in pair], [0, 1] * 10)
    fixed = _run([v * 0.99 for v in original.losses], [0, 1] * 10)
    verdict = judge("cpu", original, fixed, CompareMode.TRAIN)
    assert verdict.outcome == Outcome.PASS, verdict.summary
    assert "trajectory 2" in next(c for c in verdict.checks if c.name == "trains").detail


def test_near_zero_losses_use_the_initial_scale():
    original = _run([2.0] * 5 + [1e-4] * 20)
    fixed = _run([2.0] * 5 + [3e-4] * 20)  # +200% of a tiny number: still fine
    assert judge("cpu", original, fixed, CompareMode.TRAIN).outcome == Outcome.PASS


def _result(*verdicts):
    return VerifyResult(
        script="train.py",
        fixed_path=None,
        mode=CompareMode.MATCH,
        steps=10,
        seed=0,
        devices=list(verdicts),
    )


def test_exit_code_is_0_only_when_every_verdict_passes():
    trained = _run([2.0 - 0.1 * i for i in range(10)])
    crashed = RunOutcome(status="crashed", device="cpu", error={"message": "RuntimeError: x"})
    passed = judge("cuda", trained, _run(trained.losses), CompareMode.MATCH)
    inconclusive = judge("cpu", crashed, crashed, CompareMode.MATCH)
    failed = judge("cpu", trained, _run([2.0] * 10), CompareMode.MATCH)
    skipped = judge(
        "cuda", RunOutcome(status="no-cuda", device="cuda"), None, CompareMode.MATCH, required=False
    )
    assert (passed.outcome, inconclusive.outcome, failed.outcome, skipped.outcome) == (
        Outcome.PASS,
        Outcome.INCONCLUSIVE,
        Outcome.FAIL,
        Outcome.SKIPPED,
    )
    assert _result(passed).exit_code == 0
    assert _result(passed, skipped).exit_code == 0  # --device all on a machine without a GPU
    assert _result(inconclusive, passed).exit_code == 2  # one device compared, one not
    assert _result(inconclusive, skipped).exit_code == 2
    assert _result(failed, inconclusive).exit_code == 1
    text = render_text(_result(inconclusive, passed))
    assert "result: INCONCLUSIVE (exit 2) - cpu: inconclusive, cuda: pass" in text


def test_no_worse_tells_identical_from_within_tolerance():
    original = _run([2.0 - 0.1 * i for i in range(10)])
    same = judge("cpu", original, _run(original.losses), CompareMode.TRAIN)
    close = judge(
        "cpu", original, _run([v * (1 + 1e-4) for v in original.losses]), CompareMode.TRAIN
    )
    assert same.outcome == close.outcome == Outcome.PASS
    same_detail, close_detail = (
        next(c.detail for c in v.checks if c.name == "no-worse") for v in (same, close)
    )
    assert same_detail.startswith("trajectories identical")
    assert "identical" not in close_detail and "not exactly" in close_detail, close_detail
    assert "largest relative difference 1.0e-04" in close_detail


def test_markdown_table_from_json():
    payload = {
        "script": "fixtures/train/gan.py",
        "fixed": None,
        "fixes": [{"code": "TL103"}, {"code": "TL001"}, {"code": "TL103"}],
        "devices": [
            {"device": "cpu", "outcome": "pass", "perf": None},
            {
                "device": "cuda",
                "outcome": "pass",
                "perf": {
                    "steps_per_s": [500.0, 750.0],
                    "syncs_per_step": [2.5, 1.5],
                    "speedup": 1.5,
                },
            },
        ],
    }
    table = markdown_table([payload])
    assert "| fixtures/train/gan.py | TL001, TL103 | 500 → 750 (×1.50) | 2.5 → 1.5 |" in table
    assert "cpu: pass, cuda: pass |" in table


def test_runs_without_the_fork_server(monkeypatch: pytest.MonkeyPatch):
    # CUDA runs always start a fresh process; this is that path, on the CPU.
    monkeypatch.setenv("TORCHLINT_VERIFY_NO_FORK", "1")
    result = verify(DATA / "short_run.py", device="cpu", steps=STEPS)
    cpu = result.device("cpu")
    assert result.exit_code == 0 and cpu.original.status == "finished", render_text(result)
    assert cpu.original.torch_version
