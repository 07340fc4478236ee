"""Fault injection (issue 18): signals at random points of `--fix` and `verify`, two `--fix`
runs at once, a full disk, a worker killed mid-file. After each, every file is whole (as it
was, or as an uninterrupted run leaves it), nothing temporary is left, no process survives.

Random points come from a seeded generator (TORCHLINT_FAULT_SEED picks another), so that a
failure can be replayed.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_adversarial_processes import (
    alive_in_group,
    hang_plugin,
    kill_quietly,
    pid_alive,
    session,
    verify_env,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="signals, /proc and POSIX limits"
)

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("TORCHLINT_FAULT_SEED", "18"))
FIX = ["--no-cache", "-j", "2", "--fix", "--unsafe-fixes", "--output-format", "concise"]


def torchlint_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "torchlint", *args]


def fixture_files() -> list[Path]:
    """A spread of the fixture files that have fixes (every third, for time)."""
    fixable = sorted(
        p.with_name(p.name.replace(".fixed.py", ".py"))
        for p in (ROOT / "fixtures" / "cases").glob("*/*.fixed.py")
    )
    return [p for p in fixable[::3] if p.exists()]


def copy_fixtures(target: Path) -> dict[str, bytes]:
    target.mkdir(parents=True)
    contents = {}
    for path in fixture_files():
        name = f"{path.parent.name.replace('+', '_')}_{path.name}"
        data = path.read_bytes()
        (target / name).write_bytes(data)
        contents[name] = data
    return contents


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included: a temporary file is debris)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(original, fixed) contents of the copied fixtures, fixed by one uninterrupted run."""
    root = tmp_path_factory.mktemp("reference")
    original = copy_fixtures(root / "d")
    proc = subprocess.run(
        torchlint_command(*FIX, "d"), cwd=root, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode in (0, 1), proc.stderr
    fixed = snapshot(root / "d")
    assert fixed != original  # the fixes did something
    return original, fixed


def assert_each_file_whole(
    folder: Path, reference: tuple[dict[str, bytes], dict[str, bytes]]
) -> None:
    original, fixed = reference
    now = snapshot(folder)
    assert sorted(now) == sorted(original), "a file was added (debris) or removed"
    for name, data in now.items():
        assert data in (original[name], fixed[name]), f"{name} is neither as read nor as fixed"


def assert_session_gone(pgid: int) -> None:
    """Every process of the run (its workers) ends with it (they die with their parent)."""
    wait_for(lambda: not alive_in_group(pgid), 15, "the run's processes to end")


# -- signals at random points during --fix --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_signal_at_a_random_point_of_fix(
    tmp_path: Path,
    sig: signal.Signals,
    reference: tuple[dict[str, bytes], dict[str, bytes]],
) -> None:
    copy_fixtures(tmp_path / "d")
    delay = random.Random(f"{SEED}-{sig.name}").uniform(0.5, 4.0)
    with session(
        torchlint_command(*FIX, "d"),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err
        if proc.returncode in (130, -signal.SIGTERM, -signal.SIGKILL):
            assert sig != signal.SIGINT or b"torchlint: interrupted" in err
        else:
            assert proc.returncode in (0, 1), err  # it finished before the signal
        assert_session_gone(proc.pid)
    assert_each_file_whole(tmp_path / "d", reference)


# -- two writers at once ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_concurrent_fix_runs_end_fully_fixed(
    tmp_path: Path, reference: tuple[dict[str, bytes], dict[str, bytes]]
) -> None:
    copy_fixtures(tmp_path / "d")
    runs = [
        subprocess.Popen(
            torchlint_command(*FIX, "d"),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        for run in runs:
            _, err = run.communicate(timeout=300)
            # 2: a file the other run rewrote meanwhile is not overwritten, and says so.
            assert run.returncode in (0, 1, 2), err
            assert b"Traceback" not in err and b"internal error" not in err
    finally:
        for run in runs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            if run.stderr is not None:
                run.stderr.close()
    assert snapshot(tmp_path / "d") == reference[1]


# -- a full disk ------------------------------------------------------------------------------------


def small_files_only() -> None:
    """Writes past 2 KiB fail (EFBIG, as ENOSPC would: the write is cut off); CPython ignores
    SIGXFSZ, so the write raises instead of killing the process."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


def test_full_disk_during_fix_and_cache_writes(tmp_path: Path) -> None:
    # TL012's safe fix (`require_grad` to `requires_grad`): the fixed big file is over 2 KiB.
    big = "import torch\nw = torch.zeros(3)\n" + "w.require_grad = True\n" * 120
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "big.py").write_text(big)
    (tmp_path / "d" / "small.py").write_text(
        "import torch\nw = torch.zeros(3)\nw.require_grad = True\n"
    )
    proc = subprocess.run(
        torchlint_command("--fix", "--output-format", "concise", "d"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files_only,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "big.py: fixes not written" in proc.stderr
    assert (tmp_path / "d" / "big.py").read_text() == big  # whole, as it was
    assert "w.requires_grad = True" in (tmp_path / "d" / "small.py").read_text()
    # No temporary file anywhere: not beside the sources, not in the cache.
    leftovers = [
        p.name
        for p in tmp_path.rglob("*")
        if p.is_file() and (p.name.startswith(".tmp") or p.name.endswith(".torchlint"))
    ]
    assert leftovers == []


# -- a worker killed mid-file -------------------------------------------------------------------


def test_worker_killed_mid_file_costs_only_that_file(tmp_path: Path) -> None:
    """The worker linting a file is killed from outside (as the OOM killer would), each time
    the file is tried: it is reported, every other file's findings are too."""
    (tmp_path / "d").mkdir()
    for i in range(12):
        (tmp_path / "d" / f"f{i:02}.py").write_text("import torch\nx = torch.load(p)\n")
    (tmp_path / "d" / "f05_slow.py").write_text("HANG_HERE = 1\n")
    flag = tmp_path / "hanging"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hang_plugin(tmp_path)), *sys.path]),
        "TL_HANG_FLAG": str(flag),
    }
    killed: set[int] = set()
    with session(
        torchlint_command("--no-cache", "-j", "2", "--output-format", "concise", "d"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            pids = set(map(int, flag.read_text().split())) if flag.exists() else set()
            for pid in pids - killed:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=30)
    assert len(killed) == 2  # in its batch, then alone
    assert proc.returncode == 2, err
    assert b"internal error on d/f05_slow.py: the worker linting this file crashed" in err
    assert out.count(b"TL201") == 12


# -- signals at random points during verify --------------------------------------------------------


def our_processes(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (what the test started, at any depth: the
    fork server and the runs live in sessions of their own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker.encode() in environ.split(b"\0") and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_at_a_random_point_of_verify(tmp_path: Path, sig: signal.Signals) -> None:
    script = tmp_path / "train.py"
    shutil.copy(ROOT / "fixtures" / "train" / "mlp_classifier.py", script)
    marker = f"TL_FAULT_MARK={tmp_path}"
    env = {**verify_env(tmp_path), "TL_FAULT_MARK": str(tmp_path)}
    delay = random.Random(f"{SEED}-verify-{sig.name}").uniform(1.0, 8.0)
    command = torchlint_command("verify", "--device", "cpu", "--steps", "5", str(script))
    try:
        with session(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as proc:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, sig)
            _, err = proc.communicate(timeout=60)
            assert b"Traceback" not in err
            assert proc.returncode in (0, 1, 2, 130, 128 + signal.SIGTERM), err
        wait_for(lambda: not our_processes(marker), 15, "every process verify started to end")
        assert list((tmp_path / "tmp").glob("torchlint-verify-*")) == []
    finally:
        kill_quietly(our_processes(marker))
