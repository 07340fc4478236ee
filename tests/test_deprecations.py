"""The deprecated-API rules (TL301-TL310): the deprecation table and `torch-version` steering."""

from __future__ import annotations

import itertools
import json
from importlib.resources import files

import pytest

from torchlint.engine import fix_source, lint_source
from torchlint.registry import find_rule
from torchlint.rules.deprecated_function import legacy_reduction, load_table, parse_version

AMP_SOURCE = """\
import torch

scaler = torch.cuda.amp.GradScaler()
with torch.cuda.amp.autocast(dtype=torch.float16):
    pass
"""

FUNCTORCH_SOURCE = """\
import functorch
import torch
import torch.nn.functional as F

batched = functorch.vmap(f)(x)
y = F.sigmoid(x)
"""


def _lint(source: str, code: str, torch_version=None):
    return lint_source(source, "t.py", [find_rule(code)], torch_version=torch_version).diagnostics


def test_table_ships_as_package_data_and_is_well_formed() -> None:
    raw = json.loads(files("torchlint").joinpath("data/deprecations.json").read_text("utf-8"))
    names = [entry["name"] for entry in raw["symbols"]]
    assert len(names) == len(set(names))
    for entry in raw["symbols"]:
        assert entry["status"] in ("removed", "deprecated", "undeprecated"), entry["name"]
        assert entry["fix"] in ("safe", "unsafe", "none"), entry["name"]
        assert entry.get("note"), entry["name"]
        if entry["fix"] != "none":
            assert entry["replacement"] and entry["replacement_since"], entry["name"]
        if entry["status"] == "removed":
            assert entry["removed_in"], entry["name"]
        if entry["status"] == "undeprecated":
            assert parse_version(entry["undeprecated_in"]), entry["name"]
    table = load_table()
    required = {
        "torch.solve", "torch.symeig", "torch.qr", "torch.cholesky", "torch.chain_matmul",
        "torch.range", "torch.ger", "torch.lu", "torch.norm", "torch.nn.utils.weight_norm",
        "torch.backends.cuda.sdp_kernel", "functorch.vmap", "functorch.grad", "functorch.jacrev",
        "torch.nn.functional.sigmoid", "torch.nn.functional.tanh", "torch.nn.functional.upsample",
        "torch.nn.init.normal", "torch.nn.init.uniform", "torch.nn.init.constant",
        "torch.nn.init.xavier_uniform", "torch.nn.init.kaiming_normal",
        "torch.nn.utils.clip_grad_norm", "torch.set_default_tensor_type",
        "torch.testing.assert_allclose",
    }  # fmt: skip
    assert required <= set(table.symbols)
    assert table.symbols["torch.testing.assert_allclose"].fix == "none"  # not a drop-in
    assert any("size_average" in k.keywords and "reduce" in k.keywords for k in table.keywords)


def test_legacy_reduction_matches_torch() -> None:
    reduction = pytest.importorskip("torch.nn._reduction")
    for size_average, reduce in itertools.product((True, False, None), repeat=2):
        if size_average is None and reduce is None:
            continue  # torch keeps `reduction=` then
        expected = reduction.legacy_get_string(size_average, reduce, emit_warning=False)
        assert legacy_reduction(size_average, reduce) == expected


def test_torch_version_withholds_the_grad_scaler_fix_only() -> None:
    recent = _lint(AMP_SOURCE, "TL301")
    assert [d.start.line for d in recent if d.fix] == [3, 4]
    old = _lint(AMP_SOURCE, "TL301", torch_version=(2, 1))
    assert [d.start.line for d in old] == [3, 4]  # still reported
    scaler, autocast = old
    assert scaler.fix is None and "needs torch >= 2.3" in scaler.message
    assert "2.1" in scaler.message
    assert autocast.fix is not None  # torch.amp.autocast exists since 1.10
    fixed = fix_source(AMP_SOURCE, "t.py", [find_rule("TL301")], torch_version=(2, 1))
    assert "torch.cuda.amp.GradScaler()" in fixed.source
    assert 'torch.amp.autocast("cuda", dtype=torch.float16)' in fixed.source


def test_torch_version_steers_table_fixes() -> None:
    # Default (recent torch): functorch.vmap is fixed; F.sigmoid no longer warns, so is not reported.
    recent = _lint(FUNCTORCH_SOURCE, "TL306")
    assert [(d.start.line, d.fix is not None) for d in recent] == [(5, True)]
    fixed = fix_source(FUNCTORCH_SOURCE, "t.py", [find_rule("TL306")])
    assert "torch.func.vmap(f)(x)" in fixed.source

    # A project that still supports torch 2.1: the same, torch.func exists there.
    assert [d.start.line for d in _lint(FUNCTORCH_SOURCE, "TL306", torch_version=(2, 1))] == [5]

    # Supporting torch 1.13: torch.func does not exist yet (no fix), and F.sigmoid warns there.
    old = _lint(FUNCTORCH_SOURCE, "TL306", torch_version=(1, 13))
    by_line = {d.start.line: d for d in old}
    assert set(by_line) == {5, 6}
    assert by_line[5].fix is None and "needs torch >= 2.0" in by_line[5].message
    assert by_line[6].fix is not None
    fixed = fix_source(FUNCTORCH_SOURCE, "t.py", [find_rule("TL306")], torch_version=(1, 13))
    assert "functorch.vmap(f)(x)" in fixed.source and "torch.sigmoid(x)" in fixed.source


def test_torch_version_withholds_checkpoint_and_collate_fixes() -> None:
    source = "import torch.utils.checkpoint\ny = torch.utils.checkpoint.checkpoint(f, x)\n"
    assert _lint(source, "TL302")[0].fix is not None
    assert _lint(source, "TL302", torch_version=(1, 10))[0].fix is None
    source = "import torch\nb = torch.utils.data._utils.collate.default_collate(b)\n"
    assert _lint(source, "TL307")[0].fix is not None
    assert _lint(source, "TL307", torch_version=(1, 10))[0].fix is None


def test_from_import_is_removed_once_its_names_are_unused() -> None:
    source = (
        "from torch.cuda.amp import GradScaler, autocast\n"
        "\n"
        "scaler = GradScaler()\n"
        "with autocast():\n"
        "    pass\n"
    )
    fixed = fix_source(source, "t.py", [find_rule("TL301")])
    assert fixed.source == (
        "import torch\n"
        "\n"
        'scaler = torch.amp.GradScaler("cuda")\n'
        'with torch.amp.autocast("cuda"):\n'
        "    pass\n"
    )
    assert fixed.converged and fixed.remaining.diagnostics == []


def test_init_files_keep_their_imports() -> None:
    source = "from functorch import vmap\n"
    outcome = lint_source(source, "pkg/__init__.py", [find_rule("TL306")])
    assert [d.fix for d in outcome.diagnostics] == [None]
    assert lint_source(source, "pkg/mod.py", [find_rule("TL306")]).diagnostics[0].fix is not None


def test_rule_doc_lists_every_table_entry() -> None:
    from torchlint.docs import rule_doc

    doc = rule_doc(find_rule("TL306"))
    missing = [name for name in load_table().symbols if f"`{name}`" not in doc]
    assert missing == []


def test_private_collate_is_not_reported_inside_the_package_that_owns_it() -> None:
    source = (
        "import torch\n"
        "from torch.utils.data._utils.collate import default_collate\n"
        "convert = torch.utils.data._utils.collate.default_convert\n"
    )
    rule = [find_rule("TL307")]
    owner = "site-packages/torch/utils/data/dataloader.py"
    assert lint_source(source, owner, rule).diagnostics == []
    assert (
        lint_source(source.replace("\n", "\r\n"), "torch\\utils\\data\\x.py", rule).diagnostics
        == []
    )
    user = lint_source(source, "project/torch_utils/data.py", rule).diagnostics
    assert [(d.code, d.start.line) for d in user] == [("TL307", 2), ("TL307", 3)]
