"""TL402 rng-copied-to-workers.

A random generator object created in a Dataset's ``__init__`` is copied, state and all, into every
DataLoader worker process. PyTorch reseeds its own and Python's global generators per worker, but
not generator objects a dataset holds: each worker then draws the same "random" numbers.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.data import is_dataset_class
from torchlint.analysis.walk import SCOPES, walk
from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

_GENERATORS = frozenset(
    {
        "numpy.random.default_rng",
        "numpy.random.RandomState",
        "numpy.random.Generator",
        "random.Random",
        "torch.Generator",
    }
)
_SAMPLING_METHODS = ("__getitem__", "__getitems__", "__iter__")


def _self_attr(expr: cst.BaseExpression) -> str | None:
    if (
        isinstance(expr, cst.Attribute)
        and isinstance(expr.value, cst.Name)
        and expr.value.value == "self"
    ):
        return expr.attr.value
    return None


def _methods(cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    return {s.name.value: s for s in body if isinstance(s, cst.FunctionDef)}


class RngCopiedToWorkers(Rule):
    code = "TL402"
    name = "rng-copied-to-workers"
    summary = (
        "A Dataset creates a random generator in `__init__` and draws from it in `__getitem__`: "
        "every DataLoader worker copies the same generator state"
    )
    category = Category.REPRODUCIBILITY
    severity = Severity.WARNING
    precision = Precision.MEDIUM
    needles = ("Random", "default_rng", "Generator")

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        facts = self.facts
        if not is_dataset_class(node, facts.names, facts.bindings.classes):
            return
        methods = _methods(node)
        init = methods.get("__init__")
        if init is None or self._handles_workers(node):
            return
        created = self._generators(init)
        if not created:
            return
        sampling = [methods[m] for m in _SAMPLING_METHODS if m in methods]
        for attr, call in created.items():
            if self._reassigned(attr, methods, init):
                continue
            user = next((m for m in sampling if self._uses(m, attr, methods)), None)
            if user is None:
                continue
            self.report(
                call,
                f"`self.{attr}` is created in `__init__` and drawn from in `{user.name.value}`: "
                "each DataLoader worker gets a copy of the same generator state, so workers "
                "repeat each other's random choices; create or reseed it per worker (from "
                "`torch.utils.data.get_worker_info()` or a `worker_init_fn`)",
            )

    def _generators(self, init: cst.FunctionDef) -> dict[str, cst.Call]:
        """``self.<attr>`` assigned a random generator in ``__init__``."""
        names = self.facts.names
        found: dict[str, cst.Call] = {}

        def generator_in(value: cst.BaseExpression) -> cst.Call | None:
            if isinstance(value, cst.Call) and names.resolve(value.func) in _GENERATORS:
                return value
            if isinstance(value, cst.IfExp):
                return generator_in(value.body) or generator_in(value.orelse)
            if isinstance(value, cst.BooleanOperation):
                return generator_in(value.left) or generator_in(value.right)
            return None

        def visit(node: cst.CSTNode) -> bool:
            if isinstance(node, SCOPES) and node is not init:
                return False
            if isinstance(node, cst.Assign):
                call = generator_in(node.value)
                if call is not None:
                    for target in node.targets:
                        attr = _self_attr(target.target)
                        if attr is not None:
                            found.setdefault(attr, call)
            return True

        walk(init, visit)
        return found

    def _uses(
        self, method: cst.FunctionDef, attr: str, methods: dict[str, cst.FunctionDef]
    ) -> bool:
        """``method`` (or a method of the class it calls on ``self``) reads ``self.<attr>``."""
        found = False
        helpers: list[cst.FunctionDef] = []

        def visit(node: cst.CSTNode) -> bool:
            nonlocal found
            if _self_attr(node) == attr:  # type: ignore[arg-type]
                found = True
            elif isinstance(node, cst.Call):
                called = _self_attr(node.func)
                if called in methods and methods[called] is not method:
                    helpers.append(methods[called])
            return not found

        walk(method.body, visit)
        if found:
            return True
        for helper in helpers:
            hit = False

            def visit_helper(node: cst.CSTNode) -> bool:
                nonlocal hit
                if _self_attr(node) == attr:  # type: ignore[arg-type]
                    hit = True
                return not hit

            walk(helper.body, visit_helper)
            if hit:
                return True
        return False

    def _reassigned(
        self, attr: str, methods: dict[str, cst.FunctionDef], init: cst.FunctionDef
    ) -> bool:
        """Another method, or code outside the class (``worker_info.dataset.rng = ...``),
        assigns the attribute: the generator is reseeded somewhere."""
        for method in methods.values():
            if method is init:
                continue
            hit = False

            def visit(node: cst.CSTNode) -> bool:
                nonlocal hit
                if isinstance(node, cst.Assign):
                    hit = any(_self_attr(t.target) == attr for t in node.targets)
                return not hit

            walk(method.body, visit)
            if hit:
                return True
        suffix = f".{attr}"
        return any(
            key.endswith(suffix) and not key.startswith("self.")
            for key in self.facts.bindings.values
        )

    def _handles_workers(self, cls: cst.ClassDef) -> bool:
        """The class asks which worker it runs in (it can then seed per worker)."""
        found = False

        def visit(node: cst.CSTNode) -> bool:
            nonlocal found
            if isinstance(node, cst.Attribute) and node.attr.value == "get_worker_info":
                found = True
            elif isinstance(node, cst.Name) and node.value == "get_worker_info":
                found = True
            return not found

        walk(cls.body, visit)
        return found
