"""noqa and torchlint: comments, as a user writes them."""

from __future__ import annotations

from torchlint.engine import lint_source
from torchlint.registry import all_rules

SOURCE = """import torch

a = torch.load(p)
b = torch.load(p)  # noqa
c = torch.load(p)  # noqa: TL201
d = torch.load(p)  # noqa: TL001
e = torch.load(p)  # noqa:TL001,TL201
f = torch.load(p)  # torchlint: ignore[torch-load-without-weights-only]
g = torch.load(p)  # torchlint: ignore[missing-zero-grad]
h = torch.load(p)  # torchlint: ignore
i = torch.load("# noqa")
"""


def lines(source: str) -> list[int]:
    # TL900 (unused-noqa) judges these comments; tests/test_unused_noqa.py covers it.
    found = lint_source(source, "x.py", all_rules()).diagnostics
    return [d.start.line for d in found if d.code != "TL900"]


def test_line_suppressions() -> None:
    assert lines(SOURCE) == [3, 6, 9, 11]


def test_skip_file() -> None:
    assert lines("# torchlint: skip-file\n" + SOURCE) == []
    assert lines(SOURCE + "# torchlint: skip-file\n") == []


def test_prose_after_a_noqa_code_list_is_not_read_as_rule_names() -> None:
    """``# noqa: E501 keep the data-parallel wrapper`` silences E501 only: the list of codes ends
    at the first word that is not a code or a rule name, as in ruff."""
    from torchlint.suppression import parse_suppressions

    source = (
        "model = nn.DataParallel(model)  # noqa: E501 keep the data-parallel wrapper\n"
        "model = nn.DataParallel(model)  # noqa: E501, data-parallel\n"
        "x = 1  # noqa: SIM102 - TorchScript must skip the eager-only body\n"
    )
    found = parse_suppressions(source)
    assert found.lines[1] == {"E501"}
    assert found.lines[2] == {"E501", "data-parallel"}
    assert found.lines[3] == {"SIM102"}
    assert not found.silences(1, "TL502", "data-parallel")
    assert found.silences(2, "TL502", "data-parallel")
