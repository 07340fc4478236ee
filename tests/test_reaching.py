"""Reaching definitions through compound statements (``reaching_assignments``), on real parsed
code, and the TL002/TL008/TL009 findings built on them.

Each snippet marks the use with ``use(name)``; the analysis is asked which assignments reach it.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from torchlint.analysis.dataflow import path_from_stack
from torchlint.analysis.reaching import reaching_assignments
from torchlint.engine import lint_source
from torchlint.registry import find_rule


class _FindUse(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[cst.CSTNode] = []
        self.found: list[cst.CSTNode] | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if (
            self.found is None
            and isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == "use"
        ):
            self.found = list(self.stack)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def _reaching(source: str, name: str = "p") -> list[str] | None:
    module = cst.parse_module(textwrap.dedent(source))
    finder = _FindUse()
    module.visit(finder)
    assert finder.found is not None, "snippet has no use(...) call"
    found = reaching_assignments(path_from_stack(finder.found), name)
    return None if found is None else [module.code_for_node(r.value) for r in found]


CASES = {
    "if/else, both branches": (
        """
        def f(x, c):
            if c:
                p = a(x)
            else:
                p = b(x)
            use(p)
        """,
        ["a(x)", "b(x)"],
    ),
    "if without else: the fall-through": (
        """
        def f(x, c):
            p = z(x)
            if c:
                p = a(x)
            use(p)
        """,
        ["z(x)", "a(x)"],
    ),
    "a branch that returns does not reach": (
        """
        def f(x, c):
            p = z(x)
            if c:
                p = a(x)
                return p
            use(p)
        """,
        ["z(x)"],
    ),
    "elif chain, the else raises": (
        """
        def f(x, c, d):
            if c:
                p = a(x)
            elif d:
                p = b(x)
            else:
                raise ValueError(c)
            use(p)
        """,
        ["a(x)", "b(x)"],
    ),
    "try/except: body or handler": (
        """
        def f(x):
            p = z(x)
            try:
                p = a(x)
            except E:
                p = b(x)
            use(p)
        """,
        ["a(x)", "b(x)"],
    ),
    "a handler that re-raises": (
        """
        def f(x):
            try:
                p = a(x)
            except E:
                log()
                raise
            use(p)
        """,
        ["a(x)"],
    ),
    "in a handler: any point of the body": (
        """
        def f(x):
            p = z(x)
            try:
                p = a(x)
                work()
            except E:
                use(p)
        """,
        ["z(x)", "a(x)"],
    ),
    "try/else": (
        """
        def f(x):
            try:
                work()
            except E:
                p = b(x)
            else:
                p = a(x)
            use(p)
        """,
        ["b(x)", "a(x)"],
    ),
    "finally rebinds": (
        """
        def f(x):
            p = z(x)
            try:
                p = a(x)
            finally:
                p = b(x)
            use(p)
        """,
        ["b(x)"],
    ),
    "a loop that reassigns": (
        """
        def f(x, items):
            p = z(x)
            for i in items:
                p = a(p)
            use(p)
        """,
        ["z(x)", "a(p)"],
    ),
    "a use inside a loop sees a later definition": (
        """
        def f(x, items):
            p = z(x)
            for i in items:
                use(p)
                p = a(i)
        """,
        ["z(x)", "a(i)"],
    ),
    "continue skips the rest of the body": (
        """
        def f(x, items):
            p = z(x)
            for i in items:
                if i:
                    p = a(i)
                    continue
                p = b(i)
            use(p)
        """,
        ["z(x)", "a(i)", "b(i)"],
    ),
    "while/else: the break or the else": (
        """
        def f(x, c):
            p = z(x)
            while c:
                p = a(x)
                if k():
                    p = b(x)
                    break
            else:
                p = d(x)
            use(p)
        """,
        ["b(x)", "d(x)"],
    ),
    "while True ends by break only": (
        """
        def f(x):
            while True:
                p = a(x)
                if k(p):
                    break
            use(p)
        """,
        ["a(x)"],
    ),
    "a break of an inner loop stays inside the outer loop": (
        """
        def f(x, rows):
            p = z(x)
            for row in rows:
                for cell in row:
                    p = q(cell)
                    break
                p = r(row)
                if k(row):
                    break
            use(p)
        """,
        ["z(x)", "r(row)"],
    ),
    "a break runs the finally on its way out": (
        """
        def f(x, items):
            p = z(x)
            for i in items:
                try:
                    p = q(i)
                    break
                finally:
                    p = r(i)
            use(p)
        """,
        ["z(x)", "r(i)"],
    ),
    "match: every case": (
        """
        def f(x):
            match x:
                case 1:
                    p = a(x)
                case _:
                    p = b(x)
            use(p)
        """,
        ["a(x)", "b(x)"],
    ),
    "with in a branch: straight through": (
        """
        def f(x, c):
            if c:
                with g():
                    p = a(x)
            else:
                p = b(x)
            use(p)
        """,
        ["a(x)", "b(x)"],
    ),
    "module level": (
        """
        if c:
            p = a(x)
        else:
            p = b(x)
        use(p)
        """,
        ["a(x)", "b(x)"],
    ),
    "straight line: the last assignment": (
        """
        def f(x):
            p = a(x)
            p = b(x)
            use(p)
        """,
        ["b(x)"],
    ),
    # -- unknown: a reaching binding that is not a plain assignment --------------------------------
    "a parameter reaches": (
        """
        def f(x, p, c):
            if c:
                p = a(x)
            use(p)
        """,
        None,
    ),
    "unbound on one path": (
        """
        def f(x, c):
            if c:
                p = a(x)
            use(p)
        """,
        None,
    ),
    "unpacking on one path": (
        """
        def f(x, c):
            if c:
                p = a(x)
            else:
                p, q = b(x)
            use(p)
        """,
        None,
    ),
    "augmented assignment on one path": (
        """
        def f(x, c):
            p = a(x)
            if c:
                p += 1
            use(p)
        """,
        None,
    ),
    "for target": (
        """
        def f(x, items):
            p = a(x)
            for p in items:
                work()
            use(p)
        """,
        None,
    ),
    "except as deletes the name": (
        """
        def f(x):
            p = a(x)
            try:
                work()
            except E as p:
                log(p)
            use(p)
        """,
        None,
    ),
    "import on one path": (
        """
        def f(x, c):
            p = a(x)
            if c:
                from m import p
            use(p)
        """,
        None,
    ),
    "match capture": (
        """
        def f(x):
            p = a(x)
            match x:
                case [p]:
                    pass
            use(p)
        """,
        None,
    ),
    "a walrus in the test": (
        """
        def f(x, c):
            if c:
                p = a(x)
            else:
                p = b(x)
            if (p := w()):
                use(p)
        """,
        None,
    ),
    "a closure": (
        """
        def f(x, c):
            if c:
                p = a(x)
            else:
                p = b(x)
            def inner():
                use(p)
        """,
        None,
    ),
    "not bound in the function": (
        """
        def f(x):
            use(p)
        """,
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_reaching_assignments(case: str) -> None:
    source, expected = CASES[case]
    assert _reaching(source) == expected


def test_several_reaching_do_not_vouch_for_what_runs_between() -> None:
    module = cst.parse_module(
        "def f(x, c):\n    if c:\n        p = a(x)\n    else:\n        p = b(x)\n    use(p)\n"
    )
    finder = _FindUse()
    module.visit(finder)
    assert finder.found is not None
    found = reaching_assignments(path_from_stack(finder.found), "p")
    assert found is not None and len(found) == 2
    assert all(r.rebinds("x") for r in found)  # no fix may rely on the path between


# -- the rules built on it -------------------------------------------------------------------------

_BRANCHES = """
import torch
import torch.nn.functional as F


def step(model, x, y, c):
    if c:
        p = {first}
    else:
        p = {second}
    return {loss}
"""


def _codes(source: str, code: str) -> list[str]:
    outcome = lint_source(source, "t.py", [find_rule(code)])
    assert not outcome.internal_errors
    return [d.code for d in outcome.diagnostics]


@pytest.mark.parametrize(
    ("code", "activation", "loss", "other"),
    [
        ("TL002", "F.softmax(model(x), dim=1)", "F.cross_entropy(p, y)", "model(x)"),
        ("TL008", "torch.sigmoid(model(x))", "F.binary_cross_entropy(p, y)", "model(x)"),
        ("TL009", "F.softmax(model(x), dim=1)", "F.nll_loss(p, y)", "F.log_softmax(model(x), 1)"),
        ("TL009", "torch.softmax(model(x), -1)", "torch.log(p)", "model(x).log_softmax(-1)"),
    ],
)
def test_rules_report_only_when_every_branch_is_the_activation(
    code: str, activation: str, loss: str, other: str
) -> None:
    both = _BRANCHES.format(
        first=activation, second=activation.replace("model(", "model.head("), loss=loss
    )
    assert _codes(both, code) == [code]
    one = _BRANCHES.format(first=activation, second=other, loss=loss)
    assert _codes(one, code) == []
