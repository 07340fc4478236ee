"""TL103 create-then-move.

``torch.zeros(n).to(device)`` allocates and fills a tensor in host memory, then allocates it again
on the device and copies it over, waiting for the device on the way. Passing ``device=`` creates it
where it is used, once, with a device kernel.

Real code showed where that is worth saying and where it is not: ``torch.tensor(data)`` is built on
the host either way (``device=`` does the same copy), and a tensor made once (in ``__init__``, a
setup or export step, at module level) or a handful of constant elements costs nothing measurable.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from torchlint.analysis.data import has_star_kwargs, keyword_arg
from torchlint.analysis.devices import is_device_like, names_host
from torchlint.analysis.modules import is_module_like
from torchlint.analysis.one_off import is_one_off_function
from torchlint.analysis.pytest_style import is_test_function
from torchlint.analysis.training_loops import enclosing_loops, training_loop_of
from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule

# Factories whose output does not depend on where they run: the fix is safe. ``torch.tensor`` is
# not one of them: it always builds its data on the host and copies it, ``device=`` or not.
_DETERMINISTIC = frozenset({"zeros", "ones", "full", "empty", "eye", "arange"})
# Random factories: on the device they draw from the device generator, so values change.
_RANDOM = frozenset({"rand", "randn", "randint", "randperm", "normal"})
# Keywords that make ``device=`` on the factory mean something else or fail. A ``generator=``
# (a CPU ``torch.Generator``, for reproducible draws) must match the device it draws on: with
# ``device="cuda"`` the factory raises, so drawing on the host and copying is the point.
_BLOCKING_KEYWORDS = frozenset({"device", "out", "pin_memory", "generator"})
# A tensor of at most this many elements, all sizes literal, is too small for the copy to matter
# where nothing shows that the code repeats.
_TINY = 16
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def _int(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        return int(expr.evaluated_value)
    return None


def _literal_shape_numel(args: list[cst.BaseExpression]) -> int | None:
    """The element count of a shape given as int literals (``2, 3`` or ``(2, 3)``), else None."""
    if len(args) == 1 and isinstance(args[0], (cst.Tuple, cst.List)):
        args = [e.value for e in args[0].elements if not isinstance(e, cst.StarredElement)]
        if not args:
            return None
    numel = 1
    for arg in args:
        value = _int(arg)
        if value is None:
            return None
        numel *= value
    return numel


def _literal_numel(kind: str, factory: cst.Call) -> int | None:
    """How many elements the factory makes, when its sizes are all int literals."""
    positional = [a.value for a in factory.args if a.keyword is None]
    size = keyword_arg(factory, "size")
    if kind in ("zeros", "ones", "empty", "rand", "randn"):
        return _literal_shape_numel([size.value] if size is not None else positional)
    if kind == "full":
        return _literal_shape_numel([size.value] if size is not None else positional[:1])
    if kind == "eye":
        values = [_int(v) for v in positional[:2]]
        if not values or None in values:
            return None
        return values[0] * (values[1] if len(values) == 2 else values[0])  # type: ignore[operator]
    if kind == "arange":
        values = [_int(v) for v in positional]
        if not values or None in values or len(values) > 3:
            return None
        start, end = (0, values[0]) if len(values) == 1 else (values[0], values[1])
        step = values[2] if len(values) == 3 else 1
        return max(0, (end - start) // step) if step else None  # type: ignore[operator]
    if kind == "randint":
        shape = size.value if size is not None else (positional[-1] if positional else None)
        return _literal_shape_numel([shape]) if shape is not None else None
    if kind == "randperm":
        return _int(positional[0]) if positional else None
    return None


class _ModuleMoves(Walker):
    """Whether a function moves a model to a device (``model.to(device)``, ``net = net.cuda()``)."""

    def __init__(self, is_module: Callable[[cst.BaseExpression], bool]) -> None:
        super().__init__()
        self.is_module = is_module
        self.found = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("to", "cuda"):
            if self.is_module(func.value):
                self.found = True

    def visit_Assign(self, node: cst.Assign) -> None:
        # ``model = deepcopy(model).to(device)``: the name says what was moved.
        value = node.value
        if not (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value in ("to", "cuda")
        ):
            return
        if any(self.is_module(t.target) for t in node.targets):
            self.found = True


class _ModuleAliases(Walker):
    """Names a function binds to a model: ``diffuse = diffusion_model``, ``net = build_net()``."""

    def __init__(self, is_module: Callable[[cst.BaseExpression], bool]) -> None:
        super().__init__()
        self.is_module = is_module
        self.names: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        candidates = [value.body, value.orelse] if isinstance(value, cst.IfExp) else [value]
        if any(self.is_module(c) for c in candidates):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.names.add(target.target.value)


class _ModelCalls(Walker):
    """Whether a loop calls a model (``diffusion_model(x, t)``, ``self.net(x)``, an alias)."""

    def __init__(self, is_module: Callable[[cst.BaseExpression], bool], aliases: set[str]) -> None:
        super().__init__()
        self.is_module = is_module
        self.aliases = aliases
        self.found = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value in self.aliases:
            self.found = True
        elif isinstance(func, (cst.Name, cst.Attribute)) and self.is_module(func):
            self.found = True


def _only_arg(call: cst.Call) -> cst.Arg | None:
    if len(call.args) == 1 and not call.args[0].star:
        return call.args[0]
    return None


class CreateThenMove(Rule):
    code = "TL103"
    name = "create-then-move"
    summary = "A tensor created on the host by a torch factory and then moved to a device"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = (".to(", ".cuda(")

    def setup(self) -> None:
        self._setup_functions: dict[int, bool] = {}

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("to", "cuda"):
            return
        factory = func.value
        if not isinstance(factory, cst.Call):
            return
        qualified = self.context.qualified_name(factory.func)
        if qualified is None or not qualified.startswith("torch.") or qualified.count(".") != 1:
            return
        kind = qualified[len("torch.") :]
        if kind not in _DETERMINISTIC and kind not in _RANDOM:
            return
        if has_star_kwargs(factory) or any(
            keyword_arg(factory, k) is not None for k in _BLOCKING_KEYWORDS
        ):
            return
        if not self._worth_reporting(kind, factory):
            return
        device = self._target_device(node, func.attr.value)
        if device is None:
            return
        device_code, fixable = device
        shown = f"`device={device_code}`"
        if device_code.startswith("the device"):
            shown = f"`device=` with {device_code}"
        message = (
            f"`torch.{kind}(...)` is built in host memory and then copied to the device: "
            f"pass {shown} to create it there"
        )
        if self._non_leaf(factory):
            message = (
                f"`torch.{kind}(..., requires_grad=...)` is built in host memory and then copied "
                "to the device, and the copy is not a leaf: its `.grad` stays `None` after "
                f"`backward()`; pass {shown} to create the leaf there"
            )
        fix = None
        if fixable:
            new = add_keyword_argument(factory, "device", device_code)
            random = kind in _RANDOM
            grad = keyword_arg(factory, "requires_grad") is not None
            applicability = Applicability.UNSAFE if random or grad else Applicability.SAFE
            fix = FixPlan(
                f"Pass `device={device_code}` to `torch.{kind}`",
                applicability,
                (Replace(node, new, self.context.block_indent()),),
            )
        self.report(node, message, fix=fix)

    def _sets_up_models(self, function: cst.FunctionDef) -> bool:
        """The function moves a model to a device: it prepares a run (once per model)."""
        known = self._setup_functions.get(id(function))
        if known is None:
            finder = _ModuleMoves(lambda expr: is_module_like(expr, self.facts))
            finder.walk(function.body)
            known = self._setup_functions[id(function)] = finder.found
        return known

    def _before_model_loop(
        self, path: list[tuple[cst.CSTNode, cst.CSTNode]], function: cst.FunctionDef
    ) -> bool:
        """A statement of the function body, before a loop (later in that body) that runs a model:
        the tensor is made once per run of that loop, next to many model evaluations."""
        body = function.body
        if not isinstance(body, cst.IndentedBlock):
            return False
        top = next((child for ancestor, child in path if ancestor is body), None)
        statements: list[cst.CSTNode] = list(body.body)
        if top is None or top not in statements:
            return False

        def is_module(expr: cst.BaseExpression) -> bool:
            return is_module_like(expr, self.facts)

        aliases = _ModuleAliases(is_module)
        aliases.walk(body)
        for statement in statements[statements.index(top) + 1 :]:
            if isinstance(statement, (cst.For, cst.While)):
                finder = _ModelCalls(is_module, aliases.names)
                finder.walk(statement.body)
                if finder.found:
                    return True
        return False

    def _non_leaf(self, factory: cst.Call) -> bool:
        """``requires_grad=`` (not literally False) on a copy that nothing turns into a leaf."""
        grad = keyword_arg(factory, "requires_grad")
        if grad is None or (isinstance(grad.value, cst.Name) and grad.value.value == "False"):
            return False
        stack = self.context.stack
        if len(stack) >= 3 and isinstance(stack[-2], cst.Arg) and isinstance(stack[-3], cst.Call):
            wrapper = self.context.qualified_name(stack[-3].func)
            if wrapper in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
                return False  # ``nn.Parameter(...)`` makes a new leaf of the moved copy
        return True

    def _worth_reporting(self, kind: str, factory: cst.Call) -> bool:
        """Whether the wasted copy can matter here: code that may repeat, a tensor of some size."""
        path = self.context.path_up()
        if self.context.test_code:
            # Tests build inputs once, often drawn on the host on purpose (same values on every
            # device); a test function's few steps gain nothing either. Only a training script
            # kept among the tests (test data that trains) repeats the copy enough to matter.
            if any(
                isinstance(ancestor, cst.FunctionDef) and is_test_function(ancestor.name.value)
                for ancestor, _ in path
            ):
                return False
            return training_loop_of(path, self.facts) is not None
        in_loop = bool(enclosing_loops(path, self.facts)) or any(
            isinstance(ancestor, _COMPREHENSIONS) for ancestor, _ in path
        )
        if self._non_leaf(factory):
            return True  # the moved copy is not a leaf: its ``.grad`` stays None, wherever it runs
        function = self.context.enclosing(cst.FunctionDef)
        if function is not None and is_one_off_function(function.name.value):
            if function.name.value.strip("_").lower() != "main" or not in_loop:
                return False
        if function is None and not in_loop:
            return False  # module level or a class body: runs once, at import
        if function is not None and not in_loop and self._sets_up_models(function):
            return False  # ``net = sim_net.to(device)`` ...: a run being prepared, once
        if (
            function is not None
            and not in_loop
            and "forward" not in function.name.value
            and self._before_model_loop(path, function)
        ):
            return False  # ``total = torch.zeros(b).to(d)`` before ``for t in steps: model(x)``
        if not in_loop:
            numel = _literal_numel(kind, factory)
            if numel is not None and numel <= _TINY:
                return False
        return True

    def _target_device(self, call: cst.Call, method: str) -> tuple[str, bool] | None:
        """(the device's code, whether a plain ``device=`` rewrite is exact), or None."""
        names = self.facts.names
        if method == "cuda":
            chosen = [a for a in call.args if a.keyword is None or a.keyword.value == "device"]
            if chosen:
                # ``.cuda(rank)``: an index, a string or a device; ``device=`` takes each of them
                # except a bare index as the same thing, so name the argument and fix nothing.
                selector = self.context.code(chosen[0].value)
                return f"the device that `.cuda({selector})` selects", False
            return '"cuda"', not call.args
        only = _only_arg(call)
        if only is not None:
            keyword = only.keyword.value if only.keyword is not None else None
            if keyword in (None, "device") and is_device_like(only.value, names):
                if names_host(only.value, names):
                    return None  # a tensor created on the host stays there: nothing is copied
                return self.context.code(only.value), True
            return None
        if not call.args or call.args[0].keyword is not None or call.args[0].star:
            return None
        first = call.args[0].value
        if not is_device_like(first, names) or names_host(first, names):
            return None
        if any(a.keyword is None for a in call.args[1:]):
            return None  # ``.to(device, dtype)``: a cast as well as a move
        return self.context.code(first), False
