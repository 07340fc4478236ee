"""Rule fixes an adversarial review broke (issue 18): a fix needs proof of what the receiver is."""

from __future__ import annotations

from pathlib import Path

from test_cli import run

from torchlint.engine import fix_source, lint_source
from torchlint.registry import find_rule

# Item 3: a user class with its own ``clone()`` and ``flatten(sink)``; ``flatten`` returns None.
SPEC = """\
import torch


class Spec:
    def clone(self):
        return Spec()

    def flatten(self, sink):
        sink.append(self)


def export(spec, sink):
    s = spec.clone()
    s.flatten(sink)
    return s
"""

# Item 31: ``.forward()`` of a turtle and of a browser, in a file that also uses torch.
TURTLE = """\
import turtle

import torch


def draw(size):
    turtle.forward(size)
    return torch.zeros(size)


def go_forward(driver):
    driver.forward()
    return driver.title


def step(pen, distance):
    pen.forward(distance)
"""


def _rule(code: str):
    rule = find_rule(code)
    assert rule is not None
    return [rule]


def test_tl006_plain_fix_leaves_a_user_class_clone_alone(tmp_path: Path) -> None:
    target = tmp_path / "spec.py"
    target.write_text(SPEC)
    run("--fix", "--select", "TL006", "spec.py", cwd=tmp_path)
    assert target.read_text() == SPEC  # not ``s = s.flatten(sink)``, which binds None
    assert fix_source(SPEC, "spec.py", _rule("TL006"), unsafe=True).source == SPEC


def test_tl006_safe_fix_still_applies_to_a_proven_tensor(tmp_path: Path) -> None:
    source = "import torch\n\n\ndef f():\n    t = torch.zeros(3).clone()\n    t.flatten()\n"
    target = tmp_path / "t.py"
    target.write_text(source)
    run("--fix", "--select", "TL006", "t.py", cwd=tmp_path)
    assert "    t = t.flatten()\n" in target.read_text()


def test_tl014_never_turns_a_non_module_forward_into_a_call() -> None:
    fixed = fix_source(TURTLE, "draw.py", _rule("TL014"), unsafe=True)
    assert fixed.source == TURTLE  # no ``turtle(size)``, ``driver()`` or ``pen(distance)``
    outcome = lint_source(TURTLE, "draw.py", _rule("TL014"))
    reported = {d.start.line for d in outcome.diagnostics}
    assert 7 not in reported  # ``turtle`` is an imported Python module, never an nn.Module
    assert all(d.fix is None for d in outcome.diagnostics)


def test_tl014_fix_still_applies_to_a_proven_module() -> None:
    source = (
        "import torch.nn as nn\n\n\ndef run(x):\n"
        "    layer = nn.Linear(2, 2)\n    layer.register_forward_hook(print)\n"
        "    return layer.forward(x)\n"
    )
    fixed = fix_source(source, "m.py", _rule("TL014"), unsafe=True)
    assert "    return layer(x)\n" in fixed.source


def test_tl018_safe_fix_only_on_a_proven_tensor() -> None:
    # The same shape as item 3: a ``.detach()`` of something of unknown kind proves nothing.
    source = (
        "import torch\n\n\ndef snapshot(state):\n    frozen = state.detach()\n"
        "    return torch.tensor(frozen), torch.tensor(torch.ones(2))\n"
    )
    fixed = fix_source(source, "s.py", _rule("TL018"), unsafe=False).source
    assert "torch.tensor(frozen)" in fixed
    assert "torch.ones(2).clone().detach()" in fixed


def test_tl004_safe_fix_only_in_a_proven_module_class() -> None:
    # A ``forward`` and a base torchlint cannot see: probably a module, perhaps not (no
    # ``self.training`` on a scikit-learn estimator).
    source = (
        "import torch.nn as nn\nimport torch.nn.functional as F\n"
        "from sklearn.base import BaseEstimator\n\n\n"
        "class Net(BaseEstimator):\n    def forward(self, x):\n        return F.dropout(x, 0.5)\n\n\n"
        "class Block(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, 0.5)\n"
    )
    fixed = fix_source(source, "n.py", _rule("TL004"), unsafe=False).source
    assert fixed.count("training=self.training") == 1
    assert (
        "class Block(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, 0.5, "
        in (fixed)
    )


def test_tl012_module_rewrite_is_safe_only_on_a_proven_module() -> None:
    source = (
        "import torch.nn as nn\n\n\ndef freeze(model):\n    model.require_grad = False\n\n\n"
        "def freeze_head():\n    head = nn.Linear(2, 2)\n    head.require_grad = False\n"
        "    return head\n"
    )
    fixed = fix_source(source, "f.py", _rule("TL012"), unsafe=False).source
    assert "    model.require_grad = False\n" in fixed  # ``model`` is only a name
    assert "    head.requires_grad_(False)\n" in fixed
