"""Training loops: BACKWARD, OPTIMIZER STEP, gradient clearing and step guards.

The catalog's shared notions, implemented once. A TRAINING LOOP is the innermost ``for``/``while``
whose body (nested ``if``/``with``/``try`` included; nested ``def``/``class`` excluded, except a
closure passed to ``X.step(closure)``) contains both a BACKWARD and an OPTIMIZER STEP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.names import dotted_name

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

Loop = cst.For | cst.While

_OPTIMIZER_NAME = re.compile(
    r"^_*(opt|optim|optimizer|optimiser)s?(_\w+|[A-Z]\w*|\d+)?$"
    r"|^\w*_(opt|optim|optimizer|optimiser)s?$"
    r"|^\w*(Optimizer|Optimiser)$",
    re.IGNORECASE,
)
_SCHEDULER_NAME = re.compile(r"sched|lr_?scheduler|warmup", re.IGNORECASE)
_SCALER_NAME = re.compile(r"scaler", re.IGNORECASE)
_COUNTER_NAME = re.compile(
    r"^_*(i|j|k|n|it|itr|iter|iters|iteration|iterations|step|steps|global_step|batch|batch_i|"
    r"batch_idx|batch_id|batch_index|batch_num|idx|index|epoch|ep|count|counter|n_iter|num_iter|"
    r"iter_num|iter_count|step_num|step_count|update|updates|num_updates|total_steps|cur_step|"
    r"curr_step|current_step|micro_step|tick)$",
    re.IGNORECASE,
)
_GUARD_CALL = re.compile(r"^(should|is_\w*step|is_\w*iter|time_to)\w*$", re.IGNORECASE)

_SCALER_CTORS = {"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"}


def call_attr(call: cst.Call) -> str | None:
    """The method name of ``x.name(...)``."""
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def receiver(call: cst.Call) -> cst.BaseExpression | None:
    return call.func.value if isinstance(call.func, cst.Attribute) else None


def is_backward(call: cst.Call, facts: TorchFacts) -> bool:
    """``E.backward()``, ``scaler.scale(E).backward()``, ``accelerator.backward(E)``, ..."""
    if call_attr(call) in ("backward", "manual_backward"):
        return True
    return facts.names.resolve(call.func) == "torch.autograd.backward"


def is_scaler(expr: cst.BaseExpression, facts: TorchFacts) -> bool:
    key = binding_key(expr)
    if key is None:
        return False
    if facts.bindings.constructor_of(key) in _SCALER_CTORS:
        return True
    return bool(_SCALER_NAME.search(last_component(key)))


def is_optimizer(expr: cst.BaseExpression, facts: TorchFacts) -> bool:
    """Bound to a ``torch.optim`` constructor, or named like an optimizer; never a scheduler."""
    key = binding_key(expr)
    if key is None:
        return False
    name = last_component(key)
    callees = facts.bindings.callees_of(key)
    if any(".lr_scheduler." in c or c.endswith("Scheduler") for c in callees):
        return False
    if any(_is_optimizer_ctor(c) for c in callees):
        return True
    if _SCHEDULER_NAME.search(name):
        return False
    return bool(_OPTIMIZER_NAME.match(name))


def _is_optimizer_ctor(qualname: str) -> bool:
    if not qualname.startswith("torch.optim."):
        return False
    tail = qualname[len("torch.optim.") :]
    return "." not in tail and tail[:1].isupper()


def step_target(call: cst.Call, facts: TorchFacts) -> cst.BaseExpression | None:
    """The optimizer an OPTIMIZER STEP steps: X for ``X.step(...)`` and ``scaler.step(X)``."""
    if call_attr(call) != "step":
        return None
    recv = receiver(call)
    assert recv is not None
    if call.args and call.args[0].keyword is None and is_scaler(recv, facts):
        return call.args[0].value
    if is_optimizer(recv, facts):
        return recv
    return None


def expr_key(expr: cst.BaseExpression) -> str:
    key = binding_key(expr)
    return key if key is not None else cst.Module([]).code_for_node(expr)


@dataclass
class LoopSummary:
    backwards: list[cst.Call] = field(default_factory=list)
    # (the step call, the key of the optimizer it steps, the optimizer expression)
    steps: list[tuple[cst.Call, str, cst.BaseExpression]] = field(default_factory=list)
    # keys of objects whose zero_grad() runs in the body
    zero_grad_keys: set[str] = field(default_factory=set)
    # p.grad = None / p.grad.zero_() and friends: clears whatever p belongs to
    clears_parameters: bool = False
    item_calls: list[cst.Call] = field(default_factory=list)

    @property
    def is_training_loop(self) -> bool:
        return bool(self.backwards) and bool(self.steps)

    def stepped_keys(self) -> set[str]:
        return {key for _, key, _ in self.steps}

    def clears(self, optimizer_key: str) -> bool:
        """Whether something in the body clears the gradients ``optimizer_key`` steps with."""
        if self.clears_parameters or optimizer_key in self.zero_grad_keys:
            return True
        # M.zero_grad() on anything that is not another optimizer stepped here: a model.
        others = self.stepped_keys() - {optimizer_key}
        return any(k not in others for k in self.zero_grad_keys)


class _LoopWalker(cst.CSTVisitor):
    def __init__(self, facts: TorchFacts, summary: LoopSummary) -> None:
        super().__init__()
        self.facts = facts
        self.summary = summary
        self.allowed_closures: set[int] = set()
        self.walked_functions: set[int] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return id(node) in self.allowed_closures

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return id(node) in self.allowed_closures

    def visit_Call(self, node: cst.Call) -> None:
        facts = self.facts
        if is_backward(node, facts):
            self.summary.backwards.append(node)
            return
        attr = call_attr(node)
        if attr == "step":
            target = step_target(node, facts)
            if target is not None:
                self.summary.steps.append((node, expr_key(target), target))
                self._follow_closures(node)
        elif attr == "zero_grad":
            recv = receiver(node)
            assert recv is not None
            self.summary.zero_grad_keys.add(expr_key(recv))
        elif attr == "zero_":
            recv = receiver(node)
            if isinstance(recv, cst.Attribute) and recv.attr.value == "grad":
                self.summary.clears_parameters = True
        elif attr == "item" and not node.args:
            self.summary.item_calls.append(node)
        elif facts.names.resolve(node.func) == "torch.optim.Optimizer.zero_grad":
            self.summary.zero_grad_keys.add("*")

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and t.attr.value == "grad":
                self.summary.clears_parameters = True

    def _follow_closures(self, step_call: cst.Call) -> None:
        for arg in step_call.args:
            value = arg.value
            if arg.keyword is not None and arg.keyword.value != "closure":
                continue
            if isinstance(value, cst.Lambda):
                self.allowed_closures.add(id(value))
            elif isinstance(value, cst.Name):
                for fn in self.facts.bindings.functions.get(value.value, ()):
                    if id(fn) in self.walked_functions:
                        continue
                    self.walked_functions.add(id(fn))
                    self.allowed_closures.add(id(fn))
                    fn.body.visit(self)


def summarize_loop(loop: Loop, facts: TorchFacts) -> LoopSummary:
    summary = LoopSummary()
    walker = _LoopWalker(facts, summary)
    loop.body.visit(walker)
    return summary


# -- step guards ------------------------------------------------------------------------------


def loop_counters(loop: Loop) -> set[str]:
    """Names a ``for`` loop binds: ``i``, ``step`` in ``for step, batch in enumerate(...)``."""
    if not isinstance(loop, cst.For):
        return set()
    target = loop.target
    names: set[str] = set()
    if isinstance(target, cst.Name):
        names.add(target.value)
    elif isinstance(target, cst.Tuple) and target.elements:
        first = target.elements[0].value
        if isinstance(first, cst.Name):
            names.add(first.value)
    return names


def _counter_like(expr: cst.BaseExpression, counters: set[str]) -> bool:
    key = binding_key(expr)
    if key is None:
        return False
    name = last_component(key)
    return key in counters or name in counters or bool(_COUNTER_NAME.match(name))


class _GuardFinder(cst.CSTVisitor):
    def __init__(self, counters: set[str]) -> None:
        super().__init__()
        self.counters = counters
        self.found = False

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> bool:
        if isinstance(node.operator, cst.Modulo) and not isinstance(
            node.left, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
        ):
            self.found = True
        return not self.found

    def visit_Comparison(self, node: cst.Comparison) -> bool:
        operands = [node.left] + [c.comparator for c in node.comparisons]
        if any(
            isinstance(
                c.operator, (cst.Equal, cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan,
                             cst.LessThanEqual, cst.NotEqual)
            )
            for c in node.comparisons
        ) and any(_counter_like(op, self.counters) for op in operands):
            self.found = True
        return not self.found

    def visit_Call(self, node: cst.Call) -> bool:
        name = dotted_name(node.func)
        if name is not None and _GUARD_CALL.match(name.rsplit(".", 1)[-1]):
            self.found = True
        return not self.found


def is_step_guard(test: cst.BaseExpression, counters: set[str]) -> bool:
    """An ``if`` test that makes its body run only on some iterations."""
    finder = _GuardFinder(counters)
    test.visit(finder)
    return finder.found
