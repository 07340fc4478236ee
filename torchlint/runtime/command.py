"""``torchlint verify``: the command-line door to :func:`torchlint.runtime.verify`."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from torchlint.output import OutputError, write_report
from torchlint.runtime.api import COMPARE, DEVICES, EXIT_ERROR, VerifyError, verify
from torchlint.runtime.runs import shutdown_servers


class Stopped(BaseException):
    """SIGTERM or SIGHUP during a verification. A BaseException, so that nothing on the way
    out catches it before the runs' process groups are killed and the temp folder removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def _stop_signals_handled_by(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Run the block with ``handler`` for SIGTERM and SIGHUP, then restore the previous handlers
    (only the main thread can set them: elsewhere the block runs as it is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler_before in previous.items():
            signal.signal(number, handler_before)


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Stopped`: their default action would end torchlint
    at once and leave the training script running (with no timeout) and its folder behind."""

    def stop(signum: int, frame: FrameType | None) -> None:
        for number in STOP_SIGNALS:  # a second signal must not cut the clean-up short
            signal.signal(number, signal.SIG_IGN)
        raise Stopped(signum)

    with _stop_signals_handled_by(stop):
        yield


@click.command("verify")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--fixed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Compare against this fixed version instead of torchlint's fixes.",
)
@click.option(
    "--unsafe-fixes/--no-unsafe-fixes",
    default=None,
    help="Also apply unsafe (behaviour-changing) fixes.",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="all",
    show_default=True,
    help="cpu hides GPUs from the runs; cuda requires one; all runs both where there is one.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=2),
    default=50,
    show_default=True,
    help="Stop each run after this many optimizer steps.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every RNG.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds before a run is stopped.",
)
@click.option(
    "--compare",
    type=click.Choice(COMPARE),
    default="auto",
    show_default=True,
    help="match: trajectories must agree; train: must train at least as well; "
    "auto: match for safe fixes only, else train.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="How much worse (relative) the fixed version's final loss may be.",
)
@click.option(
    "--threads",
    "cpu_threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="CPU threads per run.",
)
@click.option(
    "--python",
    "python",
    type=str,
    default=None,
    help="The Python that runs the scripts (default: this one).",
)
@click.option(
    "--cwd",
    "cwd",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Run both scripts, one after the other, in this working directory (default: a fresh, "
    "empty folder for each run; what one run writes in DIR, the next can read).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Use this config file for the fixes.",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Time this many more pairs of runs, original and fixed interleaved, and report the "
    "steps/s ratio with a 95% interval (0: the verdict's single runs only).",
)
@click.option(
    "--time-budget",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds per device for the timing pairs; with no --repeats, pairs until it is spent "
    "or the interval is tight.",
)
@click.option(
    "--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "-o",
    "--output-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to a file instead of stdout.",
)
def verify_command(
    script: Path,
    script_args: tuple[str, ...],
    fixed: Path | None,
    unsafe_fixes: bool | None,
    device: str,
    steps: int,
    seed: int,
    timeout: float,
    compare: str,
    tolerance: float,
    cpu_threads: int,
    python: str | None,
    cwd: Path | None,
    config_path: Path | None,
    repeats: int,
    time_budget: float | None,
    output_format: str,
    output_file: Path | None,
) -> None:
    """Check that fixed training code still trains: run SCRIPT and its fixed version and compare.

    Each run is a subprocess with every seed set, watched through PyTorch's own hooks (optimizer
    steps, backward calls) and stopped after --steps optimizer steps. Arguments after `--` are
    passed to the script. Exit 0: every verdict passes; 1: a fixed version crashes, stops training
    or trains worse on some device; 2: usage error, or a verdict is inconclusive (the original
    could not be run or did not train, on some device) and none failed.
    """
    from torchlint.runtime.report import render_json, render_text

    try:
        with stopped_by_signals():
            result = verify(
                script,
                fixed,
                unsafe_fixes=unsafe_fixes,
                device=device,
                steps=steps,
                seed=seed,
                timeout=timeout,
                compare=compare,
                tolerance=tolerance,
                cpu_threads=cpu_threads,
                python=python,
                script_args=script_args,
                config=config_path,
                cwd=cwd,
                repeats=repeats,
                time_budget=time_budget,
            )
            # Still under the handlers: a signal while the report is written ends the command
            # the same way (exit 128 + signal, saying so), not by the signal's default action.
            text = render_json(result) if output_format == "json" else render_text(result)
            write_report(text, output_file)
            sys.stdout.flush()
    except (VerifyError, OutputError) as exc:
        click.echo(f"torchlint: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except Stopped as stop:
        name = signal.Signals(stop.signum).name
        click.echo(f"torchlint: stopped by {name}; the runs were ended", err=True)
        sys.exit(128 + stop.signum)
    # The runs are over and reported; what is left is closing the fork servers (about a second).
    # A SIGTERM or SIGHUP then ends torchlint with the same exit status, saying so, rather than by
    # the signal's default action. They are closed here, not at interpreter exit, because the
    # interpreter resets signal handlers before it runs its exit hooks' last steps.
    with _exit_on_stop_signals():
        shutdown_servers()
    sys.exit(result.exit_code)


@contextmanager
def _exit_on_stop_signals() -> Iterator[None]:
    def leave(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        os.write(2, f"torchlint: stopped by {name}; the runs had ended\n".encode())
        os._exit(128 + signum)

    with _stop_signals_handled_by(leave):
        yield
