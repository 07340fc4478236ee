"""TL503 distributed-sampler-without-set-epoch.

``DistributedSampler`` shuffles with a generator seeded from ``seed + epoch``. Unless
``sampler.set_epoch(epoch)`` is called before each epoch, ``epoch`` stays 0 and every epoch visits
the data in exactly the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.data import is_dataloader_call, is_eval_name, iterated_keys, keyword_arg
from torchlint.analysis.distributed import contains_call, is_distributed_sampler_call
from torchlint.analysis.training_loops import Loop, enclosing_loops
from torchlint.analysis.walk import SCOPES, walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, InsertBefore
from torchlint.rule import Rule


@dataclass
class _Sampler:
    key: str  # the expression to call set_epoch on: ``train_sampler`` or ``loader.sampler``
    conditional: bool  # ``DistributedSampler(ds) if distributed else None``
    ancestors: frozenset[int]  # ids of the binding's ancestors


def _shuffles(call: cst.Call) -> bool:
    shuffle = keyword_arg(call, "shuffle")
    return not (
        shuffle is not None
        and isinstance(shuffle.value, cst.Name)
        and shuffle.value.value == "False"
    )


def _calls_set_epoch(node: cst.CSTNode) -> bool:
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if (
            isinstance(n, cst.Call)
            and isinstance(n.func, cst.Attribute)
            and n.func.attr.value == "set_epoch"
        ):
            found = True
        return not found

    walk(node, visit)
    return found


class DistributedSamplerWithoutSetEpoch(Rule):
    code = "TL503"
    name = "distributed-sampler-without-set-epoch"
    summary = "A DistributedSampler is iterated in an epoch loop that never calls `set_epoch`"
    category = Category.DEVICE
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    fix_applicability = Applicability.SAFE
    needles = ("DistributedSampler",)

    def setup(self) -> None:
        # (scope id, binding key) -> the sampler a name or loader stands for
        self._samplers: dict[tuple[int, str], _Sampler] = {}
        self._epoch_checked: dict[int, bool] = {}
        self._reported: set[tuple[int, str]] = set()

    # -- bindings --------------------------------------------------------------------------------
    def _scope(self, key: str) -> cst.CSTNode:
        if key.startswith("self."):
            cls = self.context.enclosing(cst.ClassDef)
            if cls is not None:
                return cls
        return self.context.enclosing(cst.FunctionDef) or self.context.module

    def _lookup(self, key: str) -> _Sampler | None:
        return self._samplers.get((id(self._scope(key)), key))

    def _forget(self, target: cst.BaseExpression) -> None:
        """A rebinding (``loader = accelerator.prepare(loader)``) ends what we knew of a name."""
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._forget(element.value)
            return
        key = binding_key(target)
        if key is not None:
            self._samplers.pop((id(self._scope(key)), key), None)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._forget(target.target)
        if len(node.targets) != 1:
            return
        key = binding_key(node.targets[0].target)
        if key is None or "[]" in key or is_eval_name(last_component(key)):
            return  # evaluation data: its order does not matter
        names = self.facts.names
        ancestors = frozenset(id(n) for n in self.context.stack)
        sampler = contains_call(node.value, lambda n: is_distributed_sampler_call(n, names))
        if sampler is not None:
            if _shuffles(sampler):
                conditional = sampler is not node.value
                self._samplers[(id(self._scope(key)), key)] = _Sampler(key, conditional, ancestors)
            return
        loader = contains_call(node.value, lambda n: is_dataloader_call(n, names))
        if loader is None:
            return
        argument = keyword_arg(loader, "sampler")
        if argument is None:
            return
        value = argument.value
        conditional = loader is not node.value
        inline = contains_call(value, lambda n: is_distributed_sampler_call(n, names))
        if inline is not None:
            if _shuffles(inline):
                conditional = conditional or inline is not value
                self._samplers[(id(self._scope(key)), key)] = _Sampler(
                    f"{key}.sampler", conditional, ancestors
                )
            return
        sampler_key = binding_key(value)
        known = self._lookup(sampler_key) if sampler_key is not None else None
        if known is not None:
            self._samplers[(id(self._scope(key)), key)] = _Sampler(
                known.key, known.conditional or conditional, known.ancestors | ancestors
            )

    # -- iteration ---------------------------------------------------------------------------------
    def visit_For(self, node: cst.For) -> None:
        if not self._samplers:
            return
        for key in iterated_keys(node.iter):
            sampler = self._lookup(key)
            if sampler is not None:
                self._check(sampler)

    def visit_Call(self, node: cst.Call) -> None:
        """``train_one_epoch(model, loader)`` where that function of this file iterates it."""
        if not self._samplers:
            return
        for arg_index, arg in enumerate(node.args):
            key = binding_key(arg.value)
            if key is None or arg.star:
                continue
            sampler = self._lookup(key)
            if sampler is None:
                continue
            function = self._local_function(node.func)
            if function is None:
                continue
            parameter = _parameter_for(function, arg_index, arg)
            if parameter is not None and _iterates(function, parameter):
                if not _calls_set_epoch(function.body):
                    self._check(sampler)

    def _local_function(self, func: cst.BaseExpression) -> cst.FunctionDef | None:
        if isinstance(func, cst.Name):
            name = func.value
        elif (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
        ):
            name = func.attr.value
        else:
            return None
        defs = self.facts.bindings.functions.get(name, [])
        return defs[0] if len(defs) == 1 else None

    # -- the epoch loop ----------------------------------------------------------------------------
    def _check(self, sampler: _Sampler) -> None:
        loops = enclosing_loops(self.context.path_up(), self.facts)
        if not loops:
            return
        epoch = loops[0].loop
        if id(epoch) in sampler.ancestors:
            return  # the sampler is rebuilt inside this loop
        if (id(epoch), sampler.key) in self._reported or self._sets_epoch(epoch):
            return
        self._reported.add((id(epoch), sampler.key))
        self.report(
            epoch,
            f"`{sampler.key}` (a DistributedSampler) is iterated in this epoch loop without "
            f"`{sampler.key}.set_epoch(epoch)`: every epoch shuffles the data in the same order",
            fix=None if sampler.conditional else self._fix(epoch, sampler.key),
        )

    def _sets_epoch(self, loop: Loop) -> bool:
        """``.set_epoch(...)`` in the loop body, or in a function of this file that it calls."""
        known = self._epoch_checked.get(id(loop))
        if known is not None:
            return known
        found = _calls_set_epoch(loop.body)
        if not found:
            callees: list[cst.FunctionDef] = []

            def visit(n: cst.CSTNode) -> bool:
                if isinstance(n, cst.Call):
                    local = self._local_function(n.func)
                    if local is not None:
                        callees.append(local)
                return True

            walk(loop.body, visit)
            found = any(_calls_set_epoch(f.body) for f in callees)
        self._epoch_checked[id(loop)] = found
        return found

    def _fix(self, loop: Loop, key: str) -> FixPlan | None:
        if not isinstance(loop, cst.For) or not isinstance(loop.target, cst.Name):
            return None
        if not isinstance(loop.body, cst.IndentedBlock) or not loop.body.body:
            return None
        call = f"{key}.set_epoch({loop.target.value})"
        return FixPlan(
            f"Call `{call}` at the start of each epoch",
            Applicability.SAFE,
            (InsertBefore(loop.body.body[0], call),),
        )


def _parameter_for(function: cst.FunctionDef, index: int, arg: cst.Arg) -> str | None:
    params = [*function.params.posonly_params, *function.params.params]
    if arg.keyword is not None:
        return arg.keyword.value
    names = [p.name.value for p in params]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return names[index] if index < len(names) else None


def _iterates(function: cst.FunctionDef, parameter: str) -> bool:
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, SCOPES) and node is not function:
            return False
        if isinstance(node, cst.For) and parameter in iterated_keys(node.iter):
            found = True
        return not found

    walk(function.body, visit)
    return found
