"""The README says what the code does: its two commands, its rule table, its options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from torchlint.devtools import rules_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None and README.index(block.group(0)) < README.index("\n## ")
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "torchlint fixtures/demo" in commands[0]
    assert "pytest" in commands[1] and "torch==2.13.0" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    test_command = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()[1]
    assert test_command.strip() in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_rule_table_matches_the_registry() -> None:
    assert rules_table() in README


def test_every_check_option_is_documented() -> None:
    from torchlint.cli import check

    for param in check.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", README), opt


def test_sample_output_is_what_the_demo_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line of the README's sample run appears, as printed, in a real run on the demo."""
    from click.testing import CliRunner

    from torchlint.cli import main

    sample = re.search(r"```text\n\$ torchlint fixtures/demo\n(.*?)```", README, re.S)
    assert sample is not None
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["--no-cache", "--no-color", "fixtures/demo"])
    assert result.exit_code == 1
    printed = result.output.splitlines()
    shown = [line for line in sample.group(1).splitlines() if line != "..."]
    assert len(shown) > 5
    missing = [line for line in shown if line not in printed]
    assert missing == []
