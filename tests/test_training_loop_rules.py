"""TL001 / TL101 / TL102 behaviour that fixture files cannot express: options, fix kinds,
suggestions, and that the TL001 fix really restores correct training."""

from __future__ import annotations

import textwrap

import pytest

from torchlint.diagnostics import Applicability
from torchlint.engine import fix_source, lint_source
from torchlint.registry import find_rule

TL001 = find_rule("missing-zero-grad")
TL101 = find_rule("item-in-training-loop")
TL102 = find_rule("cuda-empty-cache")


def _lint(source: str, rule, **kwargs):  # noqa: ANN001, ANN003
    outcome = lint_source(textwrap.dedent(source), "t.py", [rule], **kwargs)
    assert outcome.internal_errors == []
    return outcome.diagnostics


# -- TL102 options ------------------------------------------------------------------------------

PHASES = """
import torch

train(model)
del model
torch.cuda.empty_cache()
for batch in loader:
    try:
        step(batch)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
"""


def test_empty_cache_outside_loops_is_quiet_by_default() -> None:
    assert _lint(PHASES, TL102) == []


def test_only_in_loops_false_reports_every_call_but_oom_handlers() -> None:
    options = {"cuda-empty-cache": {"only-in-loops": False}}
    found = _lint(PHASES, TL102, rule_options=options)
    assert [(d.code, d.start.line) for d in found] == [("TL102", 6)]
    assert "frees no memory held by tensors" in found[0].message
    fixed = fix_source(textwrap.dedent(PHASES), "t.py", [TL102], unsafe=True, rule_options=options)
    assert "del model\nfor batch" in fixed.source


def test_empty_cache_fix_is_unsafe_only() -> None:
    source = "import torch\nfor b in loader:\n    torch.cuda.empty_cache()\n"
    assert fix_source(source, "t.py", [TL102]).source == source
    fixed = fix_source(source, "t.py", [TL102], unsafe=True).source
    assert fixed == "import torch\nfor b in loader:\n    pass\n"


# -- TL101 fix kinds ----------------------------------------------------------------------------

LOOP = """
for step, (x, y) in enumerate(loader):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    running_loss += loss.item()
    pbar.set_postfix(loss=loss.item())
"""


def test_item_fix_is_display_only_on_augmented_assignment() -> None:
    augmented, postfix = _lint(LOOP, TL101)
    assert augmented.fix is not None
    assert augmented.fix.applicability is Applicability.DISPLAY_ONLY
    assert [e.content for e in augmented.fix.edits] == ["detach"]
    assert "loss.detach()" in (augmented.suggestion or "")
    assert postfix.fix is None
    assert "`.item()`" in (postfix.suggestion or "")
    assert postfix.message.startswith("`loss.item()` runs on every iteration")


def test_item_fix_is_never_applied() -> None:
    source = textwrap.dedent(LOOP)
    assert fix_source(source, "t.py", [TL101], unsafe=True).source == source


def test_item_suppressed_by_name() -> None:
    source = LOOP.replace(
        "running_loss += loss.item()",
        "running_loss += loss.item()  # torchlint: ignore[item-in-training-loop]",
    )
    assert [d.start.line for d in _lint(source, TL101)] == [8]


# -- TL001 messages and fixes -------------------------------------------------------------------


def test_missing_zero_grad_message_names_the_optimizer() -> None:
    source = """
    for x, y in loader:
        scaler.scale(criterion(model(x), y)).backward()
        scaler.step(self.optimizer)
        scaler.update()
    """
    (found,) = _lint(source, TL001)
    assert found.message.startswith(
        "`scaler.step(self.optimizer)` runs in a training loop that never clears "
        "`self.optimizer`'s gradients"
    )
    assert found.fix is not None and found.fix.applicability is Applicability.UNSAFE


def test_missing_zero_grad_fix_after_guarded_step_at_end_of_file() -> None:
    source = (
        "for i, b in enumerate(loader):\n"
        "    model(b).backward()\n"
        "    if (i + 1) % k == 0:\n"
        "        optimizer.step()"  # no newline at the end of the file
    )
    fixed = fix_source(source, "t.py", [TL001], unsafe=True)
    assert fixed.source == source + "\n        optimizer.zero_grad()\n"
    assert fixed.converged


def test_missing_zero_grad_no_fix_for_subscripted_optimizer() -> None:
    source = """
    for x in loader:
        model(x).backward()
        optimizers[0].step()
    """
    (found,) = _lint(source, TL001)
    assert found.fix is None


def test_missing_zero_grad_fixes_two_optimizers_in_turn() -> None:
    source = textwrap.dedent(
        """
        for real in loader:
            d_loss(real).backward()
            opt_d.step()
            g_loss().backward()
            opt_g.step()
        """
    )
    fixed = fix_source(source, "t.py", [TL001], unsafe=True)
    assert fixed.converged
    assert "    opt_g.zero_grad()\n    opt_d.zero_grad()\n    d_loss" in fixed.source
    assert _lint(fixed.source, TL001) == []


# -- TL001's fix restores correct training (needs torch) ----------------------------------------

TRAIN = """
import torch

torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
data = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(8)]
accumulation = 2
for i, (x, y) in enumerate(data):
    loss = torch.nn.functional.mse_loss(model(x), y) / accumulation
    loss.backward()
    if (i + 1) % accumulation == 0:
        optimizer.step()
"""

REFERENCE = """
import torch

torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
data = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(8)]
for start in range(0, len(data), 2):
    optimizer.zero_grad()
    x = torch.cat([data[start][0], data[start + 1][0]])
    y = torch.cat([data[start][1], data[start + 1][1]])
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
"""


def _weights(source: str):  # noqa: ANN202
    namespace: dict = {}
    exec(compile(source, "<train>", "exec"), namespace)
    return namespace["model"].weight.detach().clone()


def test_fixed_accumulation_loop_matches_large_batch_training() -> None:
    torch = pytest.importorskip("torch")
    fixed = fix_source(TRAIN, "t.py", [TL001], unsafe=True).source
    assert fixed != TRAIN
    reference = _weights(REFERENCE)
    assert torch.allclose(_weights(fixed), reference, atol=1e-6)
    assert not torch.allclose(_weights(TRAIN), reference, atol=1e-3)


# -- STEP GUARD held in a variable ---------------------------------------------------------------

GUARD_VARIABLES = """
class Trainer:
    def fit(self, loader):
        for step, batch in enumerate(loader):
            self.optimizer.zero_grad()
            loss = self.model(batch)
            loss.backward()
            self.optimizer.step()
            log_now = step % 100 == 0
            if log_now:
                self.log(loss.item())
            while False:
                log_now = True
            if log_now:
                self.log(loss.item())
            last = step == len(loader) - 1
            if (last := verbose) and last:
                self.log(loss.item())
            from helpers import *
            is_last = step == len(loader) - 1
            if is_last:
                self.log(loss.item())
"""


def test_guard_variable_needs_a_plain_assignment_that_reaches_the_if() -> None:
    # Line 11: guarded. Line 15: `log_now` may be re-bound in between (in a loop): reported.
    # Line 18: a walrus in the test re-binds the name: reported. Line 22: assigned after the star
    # import: guarded.
    lines = sorted(d.start.line for d in _lint(GUARD_VARIABLES, TL101))
    assert lines == [15, 18]


def test_guard_variable_lookup_is_the_same_with_and_without_cached_facts() -> None:
    import libcst as cst

    from torchlint.analysis.facts import TorchFacts
    from torchlint.analysis.training_loops import enclosing_loops
    from torchlint.analysis.walk import walk

    module = cst.parse_module(textwrap.dedent(GUARD_VARIABLES))
    facts = TorchFacts(module)
    stack: list[cst.CSTNode] = []
    answers: list[tuple[bool, bool]] = []

    def visit(node: cst.CSTNode) -> None:
        stack.append(node)
        if isinstance(node, cst.Call) and getattr(node.func, "attr", None) is not None:
            if node.func.attr.value == "item":
                path = [(stack[i - 1], stack[i]) for i in range(len(stack) - 1, 0, -1)]
                cached = enclosing_loops(path, facts)[0].guarded
                answers.append((cached, enclosing_loops(path)[0].guarded))

    walk(module, visit, lambda node: stack.pop())
    assert answers == [(True, True), (False, False), (False, False), (True, True)]
