"""Jupyter notebooks through the `torchlint` command: findings located by cell in every output
format, fixes written into the cells and nothing else, discovery, config, cache and the parallel
runner, and notebooks that cannot be read."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from torchlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "fixtures" / "notebooks"
CASES = sorted(p for p in NOTEBOOKS.glob("TL*/*.ipynb") if not p.name.endswith(".fixed.ipynb"))
PROBLEMS = NOTEBOOKS / "problems"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z]+\d+(?:\s*,\s*[A-Z]+\d+)*)")


def run(*args: str, cwd: Path | None = None) -> Result:
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["check", "--no-cache", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def expected(notebook: Path, code: str) -> set[tuple[str, int, int]]:
    """(code, cell, line) of every line of a code cell marked ``# expect: CODE``."""
    found = set()
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for number, cell in enumerate(cells, start=1):
        if cell["cell_type"] != "code":
            continue
        for line, text in enumerate("".join(cell["source"]).splitlines(), start=1):
            match = EXPECT.search(text)
            if match and code in re.split(r"\s*,\s*", match.group(1)):
                found.add((code, number, line))
    return found


def json_findings(*args: str, cwd: Path | None = None) -> list[dict[str, object]]:
    result = run("--output-format", "json", *args, cwd=cwd)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("notebook", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_findings_are_located_by_cell(notebook: Path) -> None:
    code = notebook.parent.name
    findings = json_findings("--select", code, "--preview", str(notebook))
    got = {(f["code"], f["cell"], f["location"]["row"]) for f in findings}  # type: ignore[index]
    assert got == expected(notebook, code)
    assert got, "every fixture notebook has a finding"


@pytest.mark.parametrize(
    "notebook",
    [p for p in CASES if p.with_suffix(".fixed.ipynb").exists()],
    ids=lambda p: p.parent.name,
)
def test_fixes_match_the_fixed_notebook_and_a_second_run_changes_nothing(
    notebook: Path, tmp_path: Path
) -> None:
    code = notebook.parent.name
    copy = tmp_path / notebook.name
    shutil.copyfile(notebook, copy)
    args = ("--select", code, "--preview", "--fix", "--unsafe-fixes", str(copy))
    run(*args)
    assert copy.read_bytes() == notebook.with_suffix(".fixed.ipynb").read_bytes()
    second = run(*args)
    assert copy.read_bytes() == notebook.with_suffix(".fixed.ipynb").read_bytes()
    assert "Fixed" not in second.output


def test_every_mission_rule_has_a_fixture_notebook() -> None:
    mission = {"TL001", "TL501", "TL502", "TL102", "TL101", "TL002", "TL201"}
    assert mission <= {p.parent.name for p in CASES}


def test_text_output_names_the_cell() -> None:
    notebook = NOTEBOOKS / "TL201" / "checkpoint.ipynb"
    result = run("--select", "TL201", str(notebook))
    assert result.exit_code == 1
    path = os.path.relpath(notebook)
    assert f"{path}:cell 6:1:23: TL201" in result.output
    # The snippet is the cell's own line, not the JSON.
    assert '1 | model.load_state_dict(torch.load("model.pt"))' in result.output


def test_diff_shows_changed_cells_and_writes_nothing(tmp_path: Path) -> None:
    copy = tmp_path / "nb.ipynb"
    shutil.copyfile(NOTEBOOKS / "TL201" / "checkpoint.ipynb", copy)
    before = copy.read_bytes()
    result = run("--select", "TL201", "--diff", "--unsafe-fixes", str(copy))
    assert copy.read_bytes() == before
    assert re.search(r"^--- \S*nb\.ipynb:cell 6\n\+\+\+ \S*nb\.ipynb:cell 6$", result.output, re.M)
    assert '+model.load_state_dict(torch.load("model.pt", weights_only=True))' in result.output


def test_suppressions_inside_cells(tmp_path: Path) -> None:
    cells = [
        "import torch\n",
        'a = torch.load("a.pt")  # noqa: TL201\nb = torch.load("b.pt")\n',
        'c = torch.load("c.pt")  # torchlint: ignore[torch-load-without-weights-only]\n',
    ]
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(_notebook(cells))
    findings = json_findings("--select", "TL201", str(notebook))
    assert [(f["cell"], f["location"]["row"]) for f in findings] == [(2, 2)]  # type: ignore[index]
    notebook.write_text(_notebook(["# torchlint: skip-file\n", *cells]))
    assert json_findings("--select", "TL201", str(notebook)) == []


def _notebook(cells: list[str]) -> str:
    document = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": s,
            }
            for s in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1) + "\n"


def test_unreadable_notebooks_are_reported_and_the_rest_is_linted(tmp_path: Path) -> None:
    for problem in PROBLEMS.iterdir():
        shutil.copyfile(problem, tmp_path / problem.name)
    (tmp_path / "train.py").write_text('import torch\nstate = torch.load("m.pt")\n')
    findings = json_findings("--select", "TL000,TL201", ".", cwd=tmp_path)
    by_file = {}
    for f in findings:
        by_file.setdefault(Path(str(f["filename"])).name, []).append(f)
    assert [f["code"] for f in by_file["train.py"]] == ["TL201"]
    (invalid,) = by_file["invalid_json.ipynb"]
    assert invalid["code"] == "TL000" and "invalid JSON" in str(invalid["message"])
    assert invalid["location"] == {"row": 6, "column": 4}  # where the JSON breaks
    (old,) = by_file["nbformat3.ipynb"]
    assert "nbformat 3" in str(old["message"]) and "nbconvert" in str(old["message"])
    (broken,) = by_file["syntax_error.ipynb"]
    assert (broken["code"], broken["cell"], broken["location"]["row"]) == ("TL000", 2, 1)  # type: ignore[index]
    assert "empty.ipynb" not in by_file and "no_cells.ipynb" not in by_file


def test_notebooks_are_discovered_and_can_be_turned_off(tmp_path: Path) -> None:
    shutil.copyfile(NOTEBOOKS / "TL201" / "checkpoint.ipynb", tmp_path / "nb.ipynb")
    assert {f["code"] for f in json_findings("--select", "TL201", ".", cwd=tmp_path)} == {"TL201"}
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-exclude = ["*.ipynb"]\n')
    assert json_findings("--select", "TL201", ".", cwd=tmp_path) == []


def test_the_parallel_runner_and_the_cache_cover_notebooks(tmp_path: Path) -> None:
    source = NOTEBOOKS / "TL201" / "checkpoint.ipynb"
    for index in range(12):
        shutil.copyfile(source, tmp_path / f"nb{index}.ipynb")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    args = ["check", "--select", "TL201", "--output-format", "json", "-j", "2", "."]
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        cold = CliRunner().invoke(main, args, catch_exceptions=False)
        warm = CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)
    assert (tmp_path / ".torchlint_cache").is_dir()
    cold_findings, warm_findings = json.loads(cold.stdout), json.loads(warm.stdout)
    assert len(cold_findings) == 12
    assert [(f["cell"], f["location"]) for f in warm_findings] == [
        (f["cell"], f["location"]) for f in cold_findings
    ]
    assert {f["cell"] for f in warm_findings} == {6}


def test_verify_runs_a_notebooks_code_cells_as_one_script() -> None:
    pytest.importorskip("torch")
    from torchlint.runtime import verify

    result = verify(
        NOTEBOOKS / "verify" / "mlp_notebook.ipynb", unsafe_fixes=True, device="cpu", steps=20
    )
    assert result.exit_code == 0, result.warnings
    assert {"TL002", "TL107"} <= {fix.code for fix in result.fixes}
    # The magics were masked: both runs trained on the CPU.
    (cpu,) = [v for v in result.devices if v.device == "cpu"]
    assert cpu.passed, cpu.summary


def test_extend_include_adds_files_a_walk_lints(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "train").write_text('import torch\nstate = torch.load("m.pt")\n')
    assert json_findings("--select", "TL201", ".", cwd=tmp_path) == []
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-include = ["bin/*"]\n')
    findings = json_findings("--select", "TL201", ".", cwd=tmp_path)
    assert [(Path(str(f["filename"])).name, f["cell"]) for f in findings] == [("train", None)]


def test_a_notebook_on_standard_input(tmp_path: Path) -> None:
    notebook = NOTEBOOKS / "TL201" / "checkpoint.ipynb"
    result = CliRunner().invoke(
        main,
        ["check", "--select", "TL201", "--stdin-filename", "nb.ipynb", "-"],
        input=notebook.read_text(encoding="utf-8"),
        catch_exceptions=False,
    )
    assert "nb.ipynb:cell 6:1:23: TL201" in result.output


def test_a_notebook_with_large_outputs_is_linted(tmp_path: Path) -> None:
    """Plots stored as images make a notebook far larger than its code (and than the 10 MiB a
    .py file may have)."""
    document = json.loads((NOTEBOOKS / "TL201" / "checkpoint.ipynb").read_text(encoding="utf-8"))
    image = {
        "data": {"image/png": "A" * (12 * 1024 * 1024)},
        "metadata": {},
        "output_type": "display_data",
    }
    document["cells"][1]["outputs"].append(image)
    notebook = tmp_path / "plots.ipynb"
    notebook.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    findings = json_findings("--select", "TL201", str(notebook))
    assert [(f["code"], f["cell"]) for f in findings] == [("TL201", 6)]
