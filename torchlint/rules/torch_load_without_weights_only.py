"""TL201 torch-load-without-weights-only.

``torch.load`` unpickles whatever the file holds unless ``weights_only=True``: loading a checkpoint
from the internet can run arbitrary code. Before torch 2.6 the default was False.

Not reported: a fallback for releases that reject the keyword (``try: torch.load(p,
weights_only=...) except TypeError: torch.load(p)``, or the other branch of a version test), and an
in-memory round trip (the function ``torch.save``s into an ``io.BytesIO`` and ``torch.load``s from
one: objects the program itself serialized, as when broadcasting picklable objects between ranks),
and a file shipped inside the package (its path built from ``__file__``): no one else supplies it.

The fix (``weights_only=True``) is offered only where the loaded object is used as a state dict,
the one case where torchlint can tell the weights-only unpickler accepts the file: the result passed
straight to ``X.load_state_dict(...)``, or a name bound to it whose every use is that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.compat import fallback_alternatives
from torchlint.analysis.dataflow import count_name
from torchlint.analysis.signatures import has_parameter
from torchlint.analysis.walk import Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.context import FileContext

_BUFFERS = frozenset({"io.BytesIO"})


def _keywords(call: cst.Call) -> set[str]:
    return {a.keyword.value for a in call.args if a.keyword is not None}


def _first_argument(call: cst.Call, keyword: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            return arg
        if arg.keyword.value == keyword:
            return arg
    return None


def _is_load_state_dict(call: cst.CSTNode) -> bool:
    return (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "load_state_dict"
    )


class _Calls(Walker):
    """Calls of a function (nested ``def``/``class`` excluded) matching a predicate."""

    def __init__(self, context: FileContext, root: cst.CSTNode) -> None:
        super().__init__()
        self.context = context
        self.root = root
        self.calls: list[cst.Call] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.root

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return node is self.root

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def _calls(context: FileContext, root: cst.CSTNode) -> list[cst.Call]:
    walker = _Calls(context, root)
    walker.walk(root)
    return walker.calls


class TorchLoadWithoutWeightsOnly(Rule):
    code = "TL201"
    name = "torch-load-without-weights-only"
    summary = "`torch.load` called without `weights_only=`, which may unpickle arbitrary code"
    category = Category.SECURITY
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    # Tests load the files they have just written themselves: no untrusted input.
    report_in_tests = False
    needles = ("load",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != "torch.load":
            return
        keywords = _keywords(node)
        if "weights_only" in keywords or any(a.star == "**" for a in node.args):
            return
        if self._under_safe_globals() or self._keyword_fallback() or self._round_trip(node):
            return
        if self._shipped_file(node):
            return
        fix = None
        # ``load(f, map_location=None, pickle_module=None, *, weights_only=...)``: a third
        # positional argument is a pickle module, which ``weights_only=True`` rejects.
        positional = sum(1 for a in node.args if a.keyword is None)
        passes_pickle_module = "pickle_module" in keywords or positional >= 3
        if not passes_pickle_module and self._used_as_state_dict(node):
            fix = FixPlan(
                "Add `weights_only=True`",
                Applicability.UNSAFE,
                (
                    Replace(
                        node,
                        add_keyword_argument(node, "weights_only", "True"),
                        self.context.block_indent(),
                    ),
                ),
            )
        version = self.context.torch_version
        if version is not None and version >= (2, 6):
            why = "the default is True only from torch 2.6; say so explicitly"
        else:
            why = "before torch 2.6 it unpickles arbitrary objects, which can run code"
        suggestion = None
        if fix is None:
            suggestion = (
                "Pass `weights_only=True` if the file holds only tensors and plain containers "
                "(allow other classes with `torch.serialization.add_safe_globals`), or "
                "`weights_only=False` if it is trusted and must hold other objects"
            )
        self.report(
            node, f"`torch.load` without `weights_only=`: {why}", fix=fix, suggestion=suggestion
        )

    # -- not findings ------------------------------------------------------------------------------
    def _under_safe_globals(self) -> bool:
        for ancestor, child in self.context.path_up():
            if isinstance(ancestor, cst.With) and child is ancestor.body:
                for item in ancestor.items:
                    value = item.item
                    if isinstance(value, cst.Call) and self.context.qualified_name(value.func) in (
                        "torch.serialization.safe_globals",
                    ):
                        return True
        return False

    def _keyword_fallback(self) -> bool:
        """In the branch for releases without ``weights_only``: the alternative passes it."""
        for alternative in fallback_alternatives(self.context.path_up()):
            for call in _calls(self.context, alternative):
                if self.context.qualified_name(
                    call.func
                ) == "torch.load" and "weights_only" in _keywords(call):
                    return True
        return False

    def _is_buffer(self, expr: cst.BaseExpression, scope: cst.CSTNode) -> bool:
        """``io.BytesIO(...)``, or a name the scope binds only to one."""
        if isinstance(expr, cst.Call):
            return self.context.qualified_name(expr.func) in _BUFFERS
        if not isinstance(expr, cst.Name):
            return False
        values = _assigned_values(scope, expr.value)
        return bool(values) and all(
            isinstance(v, cst.Call) and self.context.qualified_name(v.func) in _BUFFERS
            for v in values
        )

    def _round_trip(self, node: cst.Call) -> bool:
        """Loaded from an in-memory buffer by a function that also saves into one."""
        source = _first_argument(node, "f")
        function = self.context.enclosing(cst.FunctionDef)
        if source is None or function is None or not self._is_buffer(source.value, function):
            return False
        for call in _calls(self.context, function):
            if self.context.qualified_name(call.func) != "torch.save" or len(call.args) < 2:
                continue
            target = call.args[1]
            if target.keyword is None or target.keyword.value == "f":
                if self._is_buffer(target.value, function):
                    return True
        return False

    def _shipped_file(self, node: cst.Call) -> bool:
        """A file shipped inside the package: a path built from ``__file__``, inline or in a
        module-level constant (``_WEIGHTS = Path(__file__).parent / "weights.pt"``)."""
        source = _first_argument(node, "f")
        if source is None:
            return False
        value = source.value
        if _mentions_file(value):
            return True
        while (  # str(PATH), os.fspath(PATH), Path(PATH)
            isinstance(value, cst.Call)
            and len(value.args) == 1
            and value.args[0].keyword is None
            and not value.args[0].star
            and (
                (isinstance(value.func, cst.Name) and value.func.value == "str")
                or self.context.qualified_name(value.func) in ("os.fspath", "pathlib.Path")
            )
        ):
            value = value.args[0].value
        if not isinstance(value, cst.Name):
            return False
        function = self.context.enclosing(cst.FunctionDef)
        if function is not None and (
            _assigned_values(function, value.value) or has_parameter(function, value.value)
        ):
            return False
        values = _assigned_values(self.context.module, value.value)
        return bool(values) and all(v is not None and _mentions_file(v) for v in values)

    # -- the fix -----------------------------------------------------------------------------------
    def _used_as_state_dict(self, node: cst.Call) -> bool:
        path = self.context.path_up()
        if len(path) < 2:
            return False
        parent, _ = path[0]
        if isinstance(parent, cst.Arg):
            call, _ = path[1]
            if (
                isinstance(call, cst.Call)
                and _is_load_state_dict(call)
                and _first_argument(call, "state_dict") is parent
            ):
                return True
            return False
        # ``sd = torch.load(p)``: every other appearance of ``sd`` is ``X.load_state_dict(sd)``.
        if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1):
            return False
        target = parent.targets[0].target
        if not isinstance(target, cst.Name):
            return False
        name = target.value
        scope = self.context.enclosing(cst.FunctionDef) or self.context.module
        uses = 0
        for call in _calls(self.context, scope):
            if _is_load_state_dict(call):
                arg = _first_argument(call, "state_dict")
                if arg is not None and isinstance(arg.value, cst.Name) and arg.value.value == name:
                    uses += 1
        return uses > 0 and count_name(scope, name) == uses + 1


class _Assigned(Walker):
    def __init__(self, root: cst.CSTNode, name: str) -> None:
        super().__init__()
        self.root = root
        self.name = name
        self.values: list[cst.BaseExpression | None] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.root

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name) and target.target.value == self.name:
                self.values.append(node.value if len(node.targets) == 1 else None)
            elif count_name(target.target, self.name):
                self.values.append(None)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if count_name(node.target, self.name):
            self.values.append(None)

    def visit_AsName(self, node: cst.AsName) -> None:
        if count_name(node.name, self.name):
            self.values.append(None)


def _assigned_values(scope: cst.CSTNode, name: str) -> list[cst.BaseExpression | None]:
    """What ``name`` is assigned in ``scope`` (None for a binding other than a plain ``=``)."""
    walker = _Assigned(scope, name)
    walker.walk(scope)
    return walker.values


def _mentions_file(expr: cst.CSTNode) -> bool:
    return count_name(expr, "__file__") > 0
