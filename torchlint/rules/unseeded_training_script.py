"""TL403 unseeded-training-script.

A training script that never seeds torch's generator initialises weights, shuffles data and applies
dropout differently on every run: two runs of the same command cannot be compared or repeated.

Frameworks seed inside their setup helpers (detectron2's ``default_setup(cfg, args)`` seeds every
generator): a call to an imported function named like a setup helper counts as seeding, because
torchlint cannot see into it.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.analysis.summaries import FunctionSummary
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_NOT_TORCH = ("numpy.", "random.", "tensorflow.", "jax.")
_NOT_SEEDING = ("get", "generate", "make", "new", "read", "parse", "load")


def _is_main_guard(test: cst.BaseExpression) -> bool:
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    if not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    sides = [test.left, test.comparisons[0].comparator]
    return any(isinstance(s, cst.Name) and s.value == "__name__" for s in sides) and any(
        isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__" for s in sides
    )


class UnseededTrainingScript(Rule):
    code = "TL403"
    name = "unseeded-training-script"
    summary = "A `__main__` training script that never seeds torch's random number generator"
    category = Category.REPRODUCIBILITY
    severity = Severity.INFO
    precision = Precision.HEURISTIC
    preview = True
    needles = ("__main__",)
    report_in_tests = False  # test scripts check behaviour, not comparable training curves

    def setup(self) -> None:
        self._main: cst.If | None = None
        self._trains = False
        self._seeded = False

    def visit_If(self, node: cst.If) -> None:
        if self._main is None and _is_main_guard(node.test):
            if self.context.enclosing(cst.FunctionDef) is None:
                self._main = node

    def visit_For(self, node: cst.For) -> None:
        self._check_loop(node)

    def visit_While(self, node: cst.While) -> None:
        self._check_loop(node)

    def _check_loop(self, node: cst.For | cst.While) -> None:
        if not self._trains and self.facts.loop(node).is_training_loop:
            self._trains = True

    def visit_Call(self, node: cst.Call) -> None:
        if self._seeded:
            return
        helper = self._helper(node)
        if helper is not None:
            # A function of this file or the project: what it (and the helpers it calls) seeds.
            self._seeded = bool(self.facts.calls.seeds(helper) & {"torch", "unknown"})
            return
        qualified = self.context.qualified_name(node.func)
        spelled = qualified or dotted_name(node.func)
        if spelled is None:
            return
        last = spelled.rsplit(".", 1)[-1].lower()
        if "setup" in last and self._imported(node.func, qualified):
            self._seeded = True  # ``default_setup(cfg, args)``: a framework helper that may seed
            return
        if "seed" not in last or last.startswith(_NOT_SEEDING):
            return
        if qualified is not None and qualified.startswith(_NOT_TORCH):
            return  # np.random.seed / random.seed leave torch's generator unseeded
        self._seeded = True

    def _helper(self, node: cst.Call) -> FunctionSummary | None:
        """The summary of the called function when it is one of this file's or the project's."""
        func = node.func
        own = isinstance(func, cst.Name) and func.value in self.facts.bindings.functions
        project = self.facts.project is not None and isinstance(func, (cst.Name, cst.Attribute))
        if not (own or project):
            return None
        return self.facts.calls.function_at(node, self.context.path_up())

    def _imported(self, func: cst.BaseExpression, qualified: str | None) -> bool:
        """The callee comes from another module (its body is not in this file)."""
        if qualified is not None:
            return True
        return isinstance(func, cst.Attribute) and not (
            isinstance(func.value, cst.Name) and func.value.value == "self"
        )

    def leave_Module(self, node: cst.Module) -> None:
        if self._main is None or not self._trains or self._seeded:
            return
        self.report(
            self._main,
            "this training script never seeds torch's random number generator: weight "
            "initialisation, data shuffling and dropout differ on every run; call "
            "`torch.manual_seed(seed)` (or a helper such as `seed_everything`) before building "
            "the model",
        )
