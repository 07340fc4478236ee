"""How a verification is shown: text for a terminal, JSON for tools, a Markdown table for READMEs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from torchlint.runtime.api import VerifyResult
from torchlint.runtime.compare import CompareMode, DeviceVerdict, Outcome
from torchlint.runtime.runs import RunOutcome
from torchlint.runtime.timing import timed_speed, timing_lines

TRAJECTORY_ROWS = 8
# Runs with no traceback to show, whose last lines of output say what happened.
_SHOW_OUTPUT = ("timeout", "harness-error", "killed", "exited")

_CRITERIA = {
    CompareMode.MATCH: "behaviour-preserving fixes: the loss trajectories must match (rtol {rtol:g})",
    CompareMode.TRAIN: "behaviour-changing fixes: the fixed version must train at least as well "
    "(tolerance {tol:.0%})",
    CompareMode.UNCHANGED: "no fix changes the script: only the original is run",
}


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def render_text(result: VerifyResult) -> str:
    lines = [
        f"torchlint verify {result.script} ({result.steps} optimizer steps, seed {result.seed})"
    ]
    if result.fixed_path:
        lines.append(f"  fixed version: {result.fixed_path} (given)")
    elif result.fixes:
        lines.append(f"  fixes applied: {len(result.fixes)}")
        for fix in result.fixes:
            lines.append(f"    {fix.code} line {fix.line}: {fix.title} [{fix.applicability}]")
    if result.cwd:
        lines.append(f"  working directory: {result.cwd} (both runs, one after the other)")
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    lines.append(
        "  criterion: "
        + _CRITERIA.get(result.mode, result.mode).format(
            rtol=result.match_rtol, tol=result.tolerance
        )
    )
    for verdict in result.devices:
        lines.append("")
        lines.extend(_device_lines(verdict))
    lines.append("")
    outcome = {0: "pass", 1: "FAIL", 2: "INCONCLUSIVE"}[result.exit_code]
    line = f"result: {outcome} (exit {result.exit_code})"
    judged = [v for v in result.devices if v.outcome != Outcome.SKIPPED]
    if len(judged) > 1:
        line += " - " + ", ".join(f"{v.device}: {v.outcome}" for v in judged)
    lines.append(line)
    return "\n".join(lines) + "\n"


def _device_lines(verdict: DeviceVerdict) -> list[str]:
    label = verdict.outcome.upper() if verdict.outcome != Outcome.PASS else "pass"
    gpu = ""
    if verdict.original is not None and verdict.original.gpu:
        gpu = f" ({verdict.original.gpu})"
    lines = [f"{verdict.device}{gpu}: {label} - {verdict.summary}"]
    for check in verdict.checks:
        mark = {True: "ok", False: "FAIL", None: "n/a"}[check.ok]
        lines.append(f"  {mark:<4}  {check.name:<8}  {check.detail}")
    for label, run in (("original", verdict.original), ("fixed", verdict.fixed)):
        if run is not None and run.error and run.error.get("traceback"):
            lines.append(f"  {label} traceback (last lines):")
            lines.extend(f"    {line}" for line in run.error["traceback"])
        elif run is not None and run.status in _SHOW_OUTPUT and run.output_tail:
            lines.append(f"  {label} output (last lines):")
            lines.extend(f"    {line}" for line in run.output_tail)
    perf = verdict.perf
    if perf:
        before, after = perf["steps_per_s"]
        text = f"  perf  optimizer steps/s {_num(before, 4)} -> {_num(after, 4)}"
        syncs = perf["syncs_per_step"]
        if syncs[0] is not None or syncs[1] is not None:
            text += f"; host-device syncs per step {_num(syncs[0], 3)} -> {_num(syncs[1], 3)}"
        lines.append(text)
        sites = perf.get("sync_sites")
        if sites:
            for tag, counts in zip(("original", "fixed"), sites, strict=False):
                if counts:
                    listed = ", ".join(f"{site} x{count}" for site, count in counts.items())
                    lines.append(f"        sync sites ({tag}): {listed}")
    lines.extend(timing_lines(verdict.timing, measured_once=bool(perf)))
    lines.extend(_trajectory_lines(verdict.original, verdict.fixed))
    return lines


def _trajectory_lines(original: RunOutcome | None, fixed: RunOutcome | None) -> list[str]:
    if original is None or not original.losses:
        return []
    count = max(len(original.losses), len(fixed.losses) if fixed else 0)
    if count == 0:
        return []
    picks = sorted({round(i * (count - 1) / (TRAJECTORY_ROWS - 1)) for i in range(TRAJECTORY_ROWS)})
    streams = max(original.loss_streams, default=0) + 1
    header = f"  {'backward':>8}  {'original':>10}"
    if fixed is not None:
        header += f"  {'fixed':>10}"
    if streams > 1:
        header += "  trajectory"
    lines = [header]
    for index in picks:
        row = f"  {index + 1:>8}  {_num(_at(original.losses, index), 6):>10}"
        if fixed is not None:
            row += f"  {_num(_at(fixed.losses, index), 6):>10}"
        if streams > 1 and index < len(original.loss_streams):
            row += f"  {original.loss_streams[index] + 1}"
        lines.append(row)
    return lines


def _at(values: list[float | None], index: int) -> float | None:
    return values[index] if index < len(values) else None


def render_json(result: VerifyResult) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


def markdown_table(payloads: Iterable[dict[str, Any]], device: str = "cuda") -> str:
    """The before/after table of ``--output-format json`` results, one row per script."""
    rows = [
        "| script | fixes | steps/s before → after | syncs/step before → after | verdicts |",
        "|---|---|---|---|---|",
    ]
    for payload in payloads:
        codes = sorted({f["code"] for f in payload.get("fixes", [])})
        fixes = ", ".join(codes) if codes else ("given" if payload.get("fixed") else "none")
        verdicts = ", ".join(f"{v['device']}: {v['outcome']}" for v in payload["devices"])
        perf = next((v.get("perf") for v in payload["devices"] if v["device"] == device), None)
        timing = next((v.get("timing") for v in payload["devices"] if v["device"] == device), None)
        speed = syncs = "-"
        if perf:
            before, after = perf["steps_per_s"]
            speed = f"{_num(before, 4)} → {_num(after, 4)}"
            if perf.get("speedup"):
                speed += f" (×{perf['speedup']:.2f})"
            sync_before, sync_after = perf["syncs_per_step"]
            syncs = f"{_num(sync_before, 3)} → {_num(sync_after, 3)}"
        if timing and "steps_per_s" in timing["comparisons"]:
            speed = timed_speed(timing["comparisons"]["steps_per_s"])
        script = payload["script"]
        if payload.get("fixed"):
            script += f" vs {payload['fixed']}"
        rows.append(f"| {script} | {fixes} | {speed} | {syncs} | {verdicts} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m torchlint.runtime.report RESULT.json...``: print the Markdown table."""
    import sys

    paths = sys.argv[1:] if argv is None else argv
    payloads = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            payloads.append(json.load(handle))
    sys.stdout.write(markdown_table(payloads))


if __name__ == "__main__":
    main()
