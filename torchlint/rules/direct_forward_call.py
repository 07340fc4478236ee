"""TL014 direct-forward-call.

``module(x)`` runs ``nn.Module.__call__``: forward pre-hooks, ``forward``, forward hooks, and the
backward hooks' bookkeeping. ``module.forward(x)`` runs ``forward`` alone, so every hook (pruning
masks, weight norm, quantization observers, FSDP's parameter gathering, profilers) is skipped.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import count_name, reaching_assignment
from torchlint.analysis.modules import MODULE_SELF_METHODS, is_module_like, is_module_proven
from torchlint.analysis.names import dotted_name
from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule

# Packages whose objects may be modules: a receiver built by anything else is not one.
_TORCH_ECOSYSTEM = (
    "torch",
    "torchvision",
    "torchaudio",
    "torchtext",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "timm",
    "diffusers",
    "peft",
    "torch_geometric",
    "segmentation_models_pytorch",
    "open_clip",
    "accelerate",
)
_TORCH_IMPORTS = ("torch", "lightning", "pytorch_lightning", "transformers", "timm")
# Built by these, an object is not a module, or ``.forward`` is its documented entry point:
# TorchScript custom classes (``torch.classes.ns.Op()``) and ``RemoteModule`` (no hooks at all).
_NOT_MODULE_CONSTRUCTORS = ("torch.classes.", "torch.distributed.nn.")
# A comment on the statement saying that ``__call__`` (or a hook) is skipped on purpose.
_DELIBERATE = re.compile(r"__call__|_call_impl|\bhooks?\b", re.IGNORECASE)
_HOOK_REGISTRATION = re.compile(r"^register_\w*hook$")
_INTERFACE = "torch.jit.interface"


class _HookFunctions(Walker):
    """Names of functions a file registers as module hooks: ``m.register_forward_pre_hook(fn)``."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or not _HOOK_REGISTRATION.match(func.attr.value):
            return
        for arg in node.args:
            value = arg.value
            if arg.keyword is None or arg.keyword.value == "hook":
                if isinstance(value, cst.Call) and value.args:  # ``partial(fn, ...)``
                    value = value.args[0].value
                if isinstance(value, cst.Name):
                    self.names.add(value.value)
                elif isinstance(value, cst.Attribute):  # ``self._pre_forward``
                    self.names.add(value.attr.value)
                break


class _ForwardUses(Walker):
    """How many times ``name.forward`` appears (called or not)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.count = 0

    def visit_Attribute(self, node: cst.Attribute) -> None:
        value = node.value
        if isinstance(value, cst.Name) and value.value == self.name:
            if node.attr.value == "forward":
                self.count += 1


def _is_super_call(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name)
        and expr.func.value == "super"
    )


class _HookCalls(Walker):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and _HOOK_REGISTRATION.match(func.attr.value):
            self.found = True


def _registers_hook(cls: cst.ClassDef) -> bool:
    """The class body calls ``register_*hook`` (on itself or anything)."""
    finder = _HookCalls()
    finder.walk(cls)
    return finder.found


def _first_positional(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        break
    return None


class DirectForwardCall(Rule):
    code = "TL014"
    name = "direct-forward-call"
    summary = "`m.forward(...)` called directly, which skips the module's hooks"
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    # Tests call ``.forward`` to exercise it alone; no hook is registered there to skip.
    report_in_tests = False
    needles = (".forward(",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "forward":
            return
        recv = func.value
        if (isinstance(recv, cst.Name) and recv.value in ("self", "cls")) or _is_super_call(recv):
            return  # forward chaining inside the class itself
        first = _first_positional(node)
        if isinstance(first, cst.Name) and first.value == "self":
            return  # ``Base.forward(self, x)``: an unbound call that chains to a parent class
        if not self._torch_file() or self._not_a_module(recv):
            return
        if isinstance(recv, cst.Call) and not self._module_method_chain(recv):
            return  # a call's result: an RPC proxy, ``type(m)``, a loaded extension, a new module
        if self.context.qualified_name(recv) is not None:
            return  # an imported object: ``turtle.forward(10)``, a module of functions
        if self._in_call_method() or self._in_hook() or self._said_deliberate():
            return
        path = self.context.path_up()
        if isinstance(recv, cst.Name) and (
            self._script_interface(recv.value, path) or self._fresh_module(recv.value, path)
        ):
            return
        proven = is_module_proven(recv, self.facts, path=path)
        if not node.args and not proven:
            return  # ``driver.forward()``: a browser or a cursor moves forward; a model takes input
        shown = self.context.code(recv)
        short = len(shown) <= 40 and "\n" not in shown
        what = f"`{shown}.forward(...)`" if short else "`.forward(...)`"
        fix = None
        if proven:
            fix = FixPlan(
                "Call the module instead of `.forward`",
                Applicability.UNSAFE,
                (Replace(func, recv, self.context.block_indent()),),
            )
        self.report(
            node,
            f"{what} bypasses `nn.Module.__call__`, so the module's forward and backward hooks "
            "never run: call the module itself",
            fix=fix,
        )

    def _module_method_chain(self, recv: cst.Call) -> bool:
        """``model.eval().forward(x)``: a module method returning the module itself."""
        func = recv.func
        return (
            isinstance(func, cst.Attribute)
            and func.attr.value in MODULE_SELF_METHODS
            and not isinstance(func.value, cst.Call)
            and is_module_like(func.value, self.facts, path=self.context.path_up())
        )

    def _in_hook(self) -> bool:
        """Inside a function the file registers as a hook of a module: calling the module there
        would run the hook again (and again)."""
        function = self.context.enclosing(cst.FunctionDef)
        if function is None:
            return False
        hooks = getattr(self, "_hooks", None)
        if hooks is None:
            finder = _HookFunctions()
            finder.walk(self.context.module)
            hooks = self._hooks = finder.names
        return function.name.value in hooks

    def _said_deliberate(self) -> bool:
        """A comment on the statement says ``__call__`` or hooks are skipped on purpose."""
        statement = self.context.enclosing_statement()
        if not isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            return False
        comments = [line.comment for line in statement.leading_lines]
        if isinstance(statement, cst.SimpleStatementLine):
            comments.append(statement.trailing_whitespace.comment)
        return any(c is not None and _DELIBERATE.search(c.value) for c in comments)

    def _script_interface(self, name: str, path: list[tuple[cst.CSTNode, cst.CSTNode]]) -> bool:
        """``m: SomeInterface = self.blocks[k]; m.forward(x)``: TorchScript calls a module typed
        with a ``@torch.jit.interface`` class through its methods only."""
        found = reaching_assignment(path, name)
        if found is None or not isinstance(found.statement, cst.AnnAssign):
            return False
        annotation = found.statement.annotation.annotation
        if not isinstance(annotation, cst.Name):
            return False
        cls = self.facts.bindings.classes.get(annotation.value)
        return cls is not None and any(
            self.context.qualified_name(d.decorator) == _INTERFACE for d in cls.decorators
        )

    def _fresh_module(self, name: str, path: list[tuple[cst.CSTNode, cst.CSTNode]]) -> bool:
        """``m = LossModule(...); return m.forward(x)`` in one function, ``m`` used for nothing
        else: a module built right there has no hook to skip."""
        function = None
        for ancestor, _child in path:
            if isinstance(ancestor, (cst.ClassDef, cst.Lambda)):
                return False
            if isinstance(ancestor, cst.FunctionDef):
                function = ancestor
                break
        if function is None:
            return False
        found = reaching_assignment(path, name)
        if found is None or not isinstance(found.value, cst.Call):
            return False
        if not self._hookless_constructor(found.value.func):
            return False
        uses = _ForwardUses(name)
        uses.walk(function.body)
        return count_name(function.body, name) == 1 + uses.count

    def _hookless_constructor(self, func: cst.BaseExpression) -> bool:
        """A ``torch.nn`` class, or a module class of this file that registers no hook."""
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            return qualified.startswith("torch.nn.") and qualified.rsplit(".", 1)[-1][:1].isupper()
        if not isinstance(func, cst.Name):
            return False
        cls = self.facts.bindings.classes.get(func.value)
        if cls is None or not self.facts.is_module_class(cls):
            return False
        seen: set[str] = set()
        while cls is not None and cls.name.value not in seen:
            seen.add(cls.name.value)
            if _registers_hook(cls):
                return False
            bases = [b.value for b in cls.bases if isinstance(b.value, cst.Name)]
            cls = self.facts.bindings.classes.get(bases[0].value) if bases else None
        return True

    def _in_call_method(self) -> bool:
        """Inside a class's own ``__call__``: a wrapper that forwards to what it wraps."""
        for node in self.context.ancestors():
            if isinstance(node, cst.FunctionDef):
                if node.name.value == "__call__":
                    return True
            elif isinstance(node, cst.ClassDef):
                return False
        return False

    def _torch_file(self) -> bool:
        names = self.facts.names
        return any(names.imports_from(prefix) for prefix in _TORCH_IMPORTS)

    def _not_a_module(self, recv: cst.BaseExpression) -> bool:
        """The receiver is a class, or something whose binding shows it is not a module."""
        if isinstance(recv, cst.Call) and self._not_a_module_constructor(recv.func):
            return True  # ``RemoteModule(...).forward()``
        key = binding_key(recv)
        if key is None:
            return False
        last = key.removesuffix("[]").rsplit(".", 1)[-1]
        if last[:1].isupper() and not key.endswith("[]"):
            local = self.facts.bindings.classes.get(last)
            if local is not None or isinstance(recv, cst.Name):
                return True  # a class: ``Function.forward(ctx, ...)`` and friends
            if self.context.qualified_name(recv) is not None:
                return True
        for value in self.facts.bindings.values.get(key, ()):
            if value is None:
                continue
            if isinstance(
                value,
                (
                    cst.List,
                    cst.Tuple,
                    cst.Dict,
                    cst.Set,
                    cst.SimpleString,
                    cst.FormattedString,
                    cst.ConcatenatedString,
                    cst.Integer,
                    cst.Float,
                    cst.Lambda,
                ),
            ):
                return True
            if isinstance(value, cst.Call) and self._not_a_module_constructor(value.func):
                return True
        return False

    def _not_a_module_constructor(self, func: cst.BaseExpression) -> bool:
        if self.facts.project is not None:
            verdict = self.facts.calls.base_is_module(func)  # a class of another project file
            if verdict is not None:
                return not verdict
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            if qualified.startswith(_NOT_MODULE_CONSTRUCTORS):
                return True
            return not qualified.startswith(tuple(p + "." for p in _TORCH_ECOSYSTEM))
        name = dotted_name(func)
        if name is None:
            return False
        # ``Navigator(...)`` or a factory of it, ``Navigator.create(...)``: a class of this file
        # that is not a module class builds no module.
        head = name.split(".", 1)[0]
        local = self.facts.bindings.classes.get(head)
        return local is not None and not self.facts.is_module_class(local)
