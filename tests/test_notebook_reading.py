"""Notebooks read as one program: IPython syntax masked, cells mapped, fixed sources written back
into the JSON text with nothing else changed."""

from __future__ import annotations

import ast
import json

import pytest

from torchlint.diagnostics import Edit, Position
from torchlint.notebook import (
    WriteBackError,
    initial_boundaries,
    move_boundaries,
    read_program,
)
from torchlint.notebook_json import NotebookError, read_notebook, with_sources
from torchlint.notebook_magics import mask_cell, unmask


def notebook(*cells: object, indent: int | None = 1, ensure_ascii: bool = False) -> str:
    """An nbformat 4 notebook, written the way nbformat writes one (indent 1, sorted keys)."""
    listed = []
    for cell in cells:
        kind, source = cell if isinstance(cell, tuple) else ("code", cell)
        entry: dict[str, object] = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            entry.update(execution_count=None, outputs=[])
        listed.append(entry)
    document = {"cells": listed, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=indent, sort_keys=True, ensure_ascii=ensure_ascii) + "\n"


@pytest.mark.parametrize(
    ("cell", "masked_lines"),
    [
        ("%matplotlib inline\nimport torch\n", [1]),
        ("!pip install torch\n", [1]),
        ("model?\n", [1]),
        ("?model\n", [1]),
        ("torch.nn.Linear??\n", [1]),
        ("%%time\nx = 1\n", [1]),
        ("for i in range(3):\n    %time f(i)\n", [2]),
        ("!pip install \\\n    torch\nx = 1\n", [1, 2]),
    ],
)
def test_ipython_lines_are_masked_and_the_rest_parses(cell: str, masked_lines: list[int]) -> None:
    masked = mask_cell(cell, 0)
    ast.parse(masked.text)
    for number, (before, after) in enumerate(
        zip(cell.splitlines(), masked.text.splitlines(), strict=True), start=1
    ):
        assert (before != after) == (number in masked_lines), (number, before, after)
    assert unmask(masked.text, masked.originals) == cell


def test_assignment_from_a_magic_keeps_its_target() -> None:
    masked = mask_cell("files = !ls\nout = %sx pwd\n", 0)
    tree = ast.parse(masked.text)
    assert [node.targets[0].id for node in tree.body] == ["files", "out"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "cell",
    [
        "x = (a\n% b)\n",  # modulo inside brackets
        'doc = """What is this?\n%s\n!important\n"""\n',  # inside a triple-quoted string
        "x = a \\\n% b\n",  # a backslash continuation
        "y = 'is it?'\n",
        "z = 1  # why?\n",
    ],
)
def test_python_that_looks_like_ipython_is_left_alone(cell: str) -> None:
    assert mask_cell(cell, 0).text == cell


def test_unmask_refuses_a_removed_or_copied_placeholder() -> None:
    masked = mask_cell("%time f()\n", 0)
    assert unmask("", masked.originals) is None
    assert unmask(masked.text * 2, masked.originals) is None


def test_program_maps_lines_to_cells_and_skips_what_is_not_python() -> None:
    text = notebook(
        ("markdown", ["# Title\n"]),
        ["import torch\n", "x = 1"],
        ["%%bash\n", "echo hi\n"],
        ("raw", "raw text"),
        "",
        ["%%time\n", "y = torch.load('m.pt')\n"],
    )
    program = read_program(text)
    assert [cell.cell.number for cell in program.cells] == [2, 5, 6]
    assert "echo" not in program.source and "Title" not in program.source
    ast.parse(program.source)
    line = program.source.splitlines().index("y = torch.load('m.pt')") + 1
    located = program.locate(line)
    assert located is not None and (located[0].cell.number, located[1]) == (6, 2)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"cells": [', "invalid JSON"),
        ('{"nbformat": 3, "worksheets": []}', "nbformat 3"),
        ("[1, 2]", "not an object"),
        ('{"nbformat": 4, "cells": [{"cell_type": "code"}]}', "cell 1 has no `source`"),
    ],
)
def test_what_is_not_a_notebook_is_said_clearly(text: str, words: str) -> None:
    with pytest.raises(NotebookError, match=words):
        read_notebook(text)


def test_an_empty_file_is_an_empty_notebook() -> None:
    assert read_program("").source == ""
    assert read_program(notebook()).source == ""


CELLS = (("markdown", ["# é\n"]), ["import torch\n", "x = 1\n", "\n", "y = 2"], "z = 3\n")


@pytest.mark.parametrize(
    "text",
    [
        notebook(*CELLS),
        notebook(*CELLS, indent=None),
        notebook(*CELLS, indent=2, ensure_ascii=True),
        notebook(*CELLS).replace("\n", "\r\n"),
        notebook(*CELLS)[:-1],  # no final newline
    ],
)
def test_write_back_changes_only_the_changed_cells_source(text: str) -> None:
    raw = read_notebook(text)
    new = with_sources(raw, {2: "import torch\nx = 10\n\ny = 2", 3: "z = 3\n"})
    document, expected = json.loads(new), json.loads(text)
    expected["cells"][1]["source"] = ["import torch\n", "x = 10\n", "\n", "y = 2"]
    assert document == expected
    # Only the changed element differs in the text, in the file's own style.
    assert new.replace("x = 10", "x = 1") == text


def test_write_back_into_an_empty_or_string_source() -> None:
    text = notebook([], "a = 1\nb = 2")
    raw = read_notebook(text)
    new = with_sources(raw, {1: "import torch\n", 2: "a = 1\nb = 3"})
    assert json.loads(new)["cells"][0]["source"] == ["import torch\n"]
    assert json.loads(new)["cells"][1]["source"] == "a = 1\nb = 3"
    assert '   "source": [\n    "import torch\\n"\n   ]' in new


def test_boundaries_follow_insertions_into_the_cell_they_belong_to() -> None:
    program = read_program(notebook("x = 1\n", "y = 2\n"))
    boundaries = initial_boundaries(program)
    assert boundaries == [0, 6, 12]
    # An import put above the first statement of cell 2, and a line added at the very end.
    at_cell_2, at_end = Position(2, 0), Position(3, 0)
    moved = move_boundaries(
        boundaries,
        program.source,
        [Edit(at_cell_2, at_cell_2, "import torch\n"), Edit(at_end, at_end, "z = 3\n")],
    )
    fixed = "x = 1\nimport torch\ny = 2\nz = 3\n"
    assert moved == [0, 6, len(fixed)]
    new = json.loads(program.write_back(fixed, moved))
    # The sources were strings, and stay strings.
    assert [cell["source"] for cell in new["cells"]] == ["x = 1\n", "import torch\ny = 2\nz = 3\n"]


def test_an_edit_across_cells_is_refused() -> None:
    program = read_program(notebook("x = 1\n", "y = 2\n"))
    with pytest.raises(WriteBackError):
        move_boundaries(
            initial_boundaries(program),
            program.source,
            [Edit(Position(1, 0), Position(2, 1), "")],
        )
