"""TL021 eval-mode-not-restored.

``model.eval()`` in a training loop (to validate every epoch, or every N steps) switches dropout off
and freezes batch-norm statistics until something calls ``model.train()``. When nothing in the loop
does, every iteration after the first validation trains in evaluation mode.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.evaluation import is_eval_loader, is_eval_name
from torchlint.analysis.grad_mode import grad_mode_of
from torchlint.analysis.names import dotted_name
from torchlint.analysis.training_loops import call_attr, receiver, stepping_loop_of
from torchlint.analysis.walk import SCOPES, PathUp, walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertBefore
from torchlint.rule import Rule

_EXITS = (cst.Return, cst.Raise, cst.Break)
# Modules kept in eval mode on purpose: teachers, EMA copies, target networks, frozen encoders.
_FROZEN = re.compile(
    r"teacher|ema|target|frozen|ref|pretrained|old|avg|swa|momentum|shadow|tokenizer|clip|vae|"
    r"text_encoder|reward|critic_target|judge",
    re.IGNORECASE,
)


# ``run_validation(...)``, ``do_eval()``, ``compute_val_metrics()``: an evaluation routine.
_EVAL_CALL = re.compile(r"eval|valid|test|^val_|_val$|_val_", re.IGNORECASE)


def _related(a: str, b: str) -> bool:
    """``model`` and ``model.module`` / ``model.backbone``: one contains the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _keys_in(node: cst.CSTNode) -> set[str]:
    out: set[str] = set()

    def visit(current: cst.CSTNode) -> bool:
        if isinstance(current, (cst.Name, cst.Attribute)):
            key = binding_key(current)
            if key is not None and key != "self":
                out.add(key)
        return True

    walk(node, visit)
    return out


def _restores(call: cst.Call) -> bool:
    """``X.train()`` / ``X.train(True)`` / ``X.train(mode)``; never ``X.train(False)``."""
    if call_attr(call) != "train":
        return False
    if not call.args:
        return True
    value = call.args[0].value
    return not (isinstance(value, cst.Name) and value.value == "False")


class EvalModeNotRestored(Rule):
    code = "TL021"
    name = "eval-mode-not-restored"
    summary = "`.eval()` inside a training loop with no `.train()` to switch the model back"
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    preview = True
    fix_applicability = Applicability.DISPLAY_ONLY
    needles = (".eval()",)

    def setup(self) -> None:
        self._helpers_restore: dict[str, bool] = {}

    def visit_Call(self, node: cst.Call) -> None:
        if call_attr(node) != "eval" or node.args:
            return
        recv = receiver(node)
        key = binding_key(recv) if recv is not None else None
        if key is None or key == "self" or _FROZEN.search(last_component(key)):
            return
        path = self.context.path_up()
        where = stepping_loop_of(path, self.facts)
        if where is None:
            return
        loop = where.loop
        if not self._trained_in(loop, key) or self._restored_in(loop, key):
            return
        following = self._following(path, loop)
        if following is None or not self._evaluates(following, path):
            return
        first = loop.body.body[0] if isinstance(loop.body, cst.IndentedBlock) else None
        fix = None
        if first is not None:
            fix = FixPlan(
                f"Call `{key}.train()` at the start of each iteration",
                Applicability.DISPLAY_ONLY,
                (InsertBefore(first, f"{key}.train()"),),
            )
        self.report(
            node,
            f"`{key}.eval()` runs inside the training loop and nothing in the loop calls "
            f"`{key}.train()`: after the first evaluation, training continues with dropout off and "
            "batch-norm statistics frozen",
            fix=fix,
        )

    # -- is it the model being trained? --------------------------------------------------------
    def _trained_in(self, loop: cst.For | cst.While, key: str) -> bool:
        summary = self.facts.loop(loop)
        unknown_optimizer = False
        for _call, optimizer, _expr in summary.steps:
            values = self.facts.bindings.values.get(optimizer, ())
            calls = [v for v in values if isinstance(v, cst.Call)]
            if not calls:
                unknown_optimizer = True
                continue
            for value in calls:
                if any(_related(k, key) for k in _keys_in(value)):
                    return True
        if any(_related(k, key) for k in summary.zero_grad_keys):
            return True
        if not unknown_optimizer:
            return False
        # The optimizer's parameters are unknown: the model is one called in the loop.
        found = False

        def visit(node: cst.CSTNode) -> bool:
            nonlocal found
            if found or isinstance(node, SCOPES):
                return False
            if isinstance(node, cst.Call):
                callee = binding_key(node.func)  # the model itself, or a module holding it
                if callee is not None and (callee == key or key.startswith(callee + ".")):
                    found = True
            return not found

        walk(loop.body, visit)
        return found

    # -- is it switched back? -------------------------------------------------------------------
    def _restored_in(self, loop: cst.For | cst.While, key: str) -> bool:
        restored = False

        def visit(node: cst.CSTNode) -> bool:
            nonlocal restored
            if restored or isinstance(node, SCOPES):
                return False
            if isinstance(node, cst.Call):
                other = None
                if _restores(node):
                    recv = receiver(node)
                    other = binding_key(recv) if recv is not None else None
                    if other is None or other == "self" or _related(other, key):
                        restored = True
                if not restored and self._helper_restores(node):
                    restored = True
            return not restored

        walk(loop.body, visit)
        return restored

    def _helper_restores(self, call: cst.Call) -> bool:
        """A function of this file, called in the loop, that calls ``.train()`` itself."""
        name = dotted_name(call.func)
        if name is None:
            return False
        short = name.rsplit(".", 1)[-1]
        known = self._helpers_restore.get(short)
        if known is None:
            known = False
            for function in self.facts.bindings.functions.get(short, ()):
                found = False

                def visit(node: cst.CSTNode) -> bool:
                    nonlocal found
                    if isinstance(node, cst.Call) and _restores(node):
                        found = True
                    return not found

                walk(function.body, visit)
                known = known or found
            self._helpers_restore[short] = known
        return known

    # -- is it an evaluation? -------------------------------------------------------------------
    def _following(self, path: PathUp, loop: cst.CSTNode) -> list[cst.CSTNode] | None:
        """The statements after the ``.eval()`` statement in its block, up to the loop; None when
        the block leaves the loop afterwards (``break``, ``return``, ``raise``)."""
        out: list[cst.CSTNode] = []
        for ancestor, child in path:
            if ancestor is loop:
                break
            if isinstance(ancestor, (cst.IndentedBlock, cst.SimpleStatementLine)):
                body = list(ancestor.body)
                index = next((i for i, s in enumerate(body) if s is child), None)
                if index is None:
                    continue
                rest = body[index + 1 :]
                for statement in rest:
                    small = statement.body if isinstance(statement, cst.SimpleStatementLine) else ()
                    if isinstance(statement, _EXITS) or any(isinstance(s, _EXITS) for s in small):
                        return None
                out.extend(rest)
        return out

    def _evaluates(self, following: list[cst.CSTNode], path: PathUp) -> bool:
        """An evaluation follows: a loop over an evaluation loader, a no-grad block, a call of an
        evaluation routine; or the ``.eval()`` itself sits in a no-grad block."""
        for ancestor, child in path:
            if isinstance(ancestor, cst.With) and child is ancestor.body:
                if any(grad_mode_of(i.item, self.facts.names) is False for i in ancestor.items):
                    return True
            if isinstance(ancestor, SCOPES):
                break
        found = False
        names = self.facts.names

        def visit(node: cst.CSTNode) -> bool:
            nonlocal found
            if found or isinstance(node, (cst.ClassDef, cst.Lambda)):
                return False
            if isinstance(node, cst.For) and is_eval_loader(node.iter):
                found = True
            elif isinstance(node, cst.For) and isinstance(node.iter, cst.Call) and node.iter.args:
                found = is_eval_loader(node.iter.args[0].value)
            elif isinstance(node, cst.WithItem) and grad_mode_of(node.item, names) is False:
                found = True
            elif isinstance(node, cst.Call):
                name = dotted_name(node.func)
                last = name.rsplit(".", 1)[-1] if name is not None else ""
                if is_eval_name(last) or _EVAL_CALL.search(last):
                    found = True
            return not found

        for statement in following:
            walk(statement, visit)
            if found:
                return True
        return False
