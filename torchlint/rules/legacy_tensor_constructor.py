"""TL310 legacy-tensor-constructor.

``torch.Tensor(...)``, ``torch.FloatTensor(...)``, ``torch.cuda.LongTensor(...)``... are legacy
constructors (deprecated in the PyTorch docs; the ``torch.cuda`` ones warn): the same call builds
a tensor *from data* or an *uninitialized tensor of a size* depending on its argument.

What to use instead depends on which of the two the call does, so the advice follows the shape of
the call and of its use:

- data (a list, tuple or comprehension, ``list(...)``, an array): ``torch.tensor(data, dtype=...)``;
- a size whose memory is initialised at once (``.uniform_()``, ``.zero_()``, ``.fill_(v)``...) or
  by the module that owns it (``nn.Parameter(torch.Tensor(n, m))``): ``torch.empty`` (or
  ``torch.zeros`` / ``torch.full`` for ``.zero_()`` / ``.fill_(v)``);
- a size whose uninitialised values are read right away (``torch.LongTensor(b, n) % k``): that is a
  bug, and ``torch.empty`` would keep it; the message says so and offers no fix;
- an argument that may be either (a variable): both readings are named.

Test files and version-compatibility branches are not checked.
"""

from __future__ import annotations

import enum

import libcst as cst

from torchlint.analysis.compat import in_compat_branch
from torchlint.analysis.deprecated_imports import DeprecatedImportsRule, PendingImport
from torchlint.analysis.names import dotted_name
from torchlint.analysis.spelling import spell
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, Change, FixPlan, Replace

_DTYPES = {
    "Tensor": "float32",
    "FloatTensor": "float32",
    "DoubleTensor": "float64",
    "HalfTensor": "float16",
    "BFloat16Tensor": "bfloat16",
    "ByteTensor": "uint8",
    "CharTensor": "int8",
    "ShortTensor": "int16",
    "IntTensor": "int32",
    "LongTensor": "int64",
    "BoolTensor": "bool",
}

# In-place methods that write every element of the tensor they are called on.
_INITIALISERS = frozenset(
    {
        "zero_",
        "fill_",
        "uniform_",
        "normal_",
        "random_",
        "bernoulli_",
        "exponential_",
        "geometric_",
        "cauchy_",
        "log_normal_",
        "copy_",
    }
)
# Methods that pass the (still uninitialised) values on unchanged: look past them.
_PASS_THROUGH = frozenset(
    {
        "to",
        "cuda",
        "cpu",
        "requires_grad_",
        "detach",
        "contiguous",
        "view",
        "reshape",
        "unsqueeze",
        "squeeze",
        "float",
        "double",
        "half",
        "long",
        "int",
        "bool",
        "type",
        "pin_memory",
        "share_memory_",
    }
)
# Calls whose result is data, not a size.
_DATA_CALLS = frozenset({"list", "tuple", "sorted", "reversed"})
_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_FACTORY_PREFIXES = ("torch.",)
_REGISTER = frozenset({"register_buffer", "register_parameter"})


class Shape(enum.Enum):
    EMPTY = "empty"  # ``torch.Tensor()``
    DATA = "data"  # a sequence literal or a call that builds one
    SIZE = "size"  # sizes: several arguments, ``*shape``, ``x.shape``, ``len(...)``, int literals
    TENSOR = "tensor"  # an existing tensor: the constructor returns an alias of it
    UNKNOWN = "unknown"  # a variable: data or a size?


class Use(enum.Enum):
    INITIALISED = "initialised"  # ``.uniform_()``, ``.zero_()``... right after
    PARAMETER = "parameter"  # ``nn.Parameter(torch.Tensor(n, m))``: the module initialises it
    STORED = "stored"  # assigned: written later, or not
    READ = "read"  # the uninitialised values are used in an expression


def _constructor(qualified: str | None) -> tuple[str, bool] | None:
    """(type name, on CUDA) for ``torch.<T>`` / ``torch.cuda.<T>``."""
    if qualified is None:
        return None
    if qualified.startswith("torch.cuda."):
        name = qualified[len("torch.cuda.") :]
        return (name, True) if name in _DTYPES and name != "Tensor" else None
    if qualified.startswith("torch."):
        name = qualified[len("torch.") :]
        return (name, False) if name in _DTYPES else None
    return None


def _is_size_expr(expr: cst.BaseExpression, *, certain: bool = False) -> bool:
    """An expression that is a size: an int literal, ``len(...)``, ``x.shape``, ``x.size()``, or a
    sum/product with one of those (``2 * n``: a size unless ``n`` is a list, which ``certain``
    rules out by asking every operand to be a size)."""
    if isinstance(expr, cst.Integer):
        return True
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Name) and func.value == "len":
            return True
        return isinstance(func, cst.Attribute) and func.attr.value == "size" and not expr.args
    if isinstance(expr, cst.Attribute):
        return expr.attr.value == "shape"
    if isinstance(expr, cst.BinaryOperation) and isinstance(
        expr.operator, (cst.Multiply, cst.Add, cst.FloorDivide)
    ):
        sides = (expr.left, expr.right)
        if any(isinstance(s, (cst.List, cst.ListComp, cst.Tuple)) for s in sides):
            return False
        if certain:
            return all(_is_size_expr(s, certain=True) for s in sides)
        return any(_is_size_expr(s) for s in sides)
    return False


def _is_data_expr(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.List, cst.Tuple, cst.ListComp)):
        return True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Add)):
        return any(isinstance(s, (cst.List, cst.ListComp)) for s in (expr.left, expr.right))
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name):
        return expr.func.value in _DATA_CALLS
    return False


def _literal_data(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, (cst.List, cst.Tuple, cst.ListComp))


class LegacyTensorConstructor(DeprecatedImportsRule):
    code = "TL310"
    name = "legacy-tensor-constructor"
    summary = "legacy tensor constructors `torch.Tensor(...)`, `torch.FloatTensor(...)`, `torch.cuda.*Tensor(...)`"
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    report_in_tests = False  # a test's fixed input tensor gains nothing from the modern spelling
    needles = ("Tensor(",)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        """``from torch import FloatTensor``: once the fixes have rewritten every call, the name is
        unused and the import goes too (reported only then, with that fix)."""
        legacy = [
            (alias, local, qualified)
            for alias, local, qualified in self.imported_names(node)
            if _constructor(qualified) is not None and qualified != "torch.Tensor"
        ]
        if legacy and self.note_import(node):
            self.defer_import_report(node, legacy)

    def report_import(self, pending: PendingImport, fix: FixPlan | None) -> None:
        if fix is None:
            return  # still used (or possibly re-exported): the calls carry the findings
        names = ", ".join(f"`{local}`" for _, local, _ in pending.deprecated)
        self.report(pending.node, f"unused import of the legacy constructor {names}", fix=fix)

    def visit_Call(self, node: cst.Call) -> None:
        found = _constructor(self.context.qualified_name(node.func))
        if found is None:
            return
        if in_compat_branch(self.context.path_up()):
            return
        type_name, cuda = found
        if self._wraps_storage(node):
            return
        dtype = _DTYPES[type_name]
        shape = self._shape(node)
        use = self._use() if shape in (Shape.SIZE, Shape.UNKNOWN) else None
        message, factory = self._advice(node, shape, use, type_name, cuda)
        fix = self._fix(node, factory, dtype, cuda) if factory is not None else None
        self.report(node, message, fix=fix)

    # -- what the call does --------------------------------------------------------------------

    def _wraps_storage(self, call: cst.Call) -> bool:
        """``torch.ByteTensor(torch.ByteStorage._from_buffer(buf))``: a tensor over an existing
        storage, the idiom torch.distributed itself uses to send pickled objects; neither
        ``torch.tensor`` nor ``torch.empty`` does that."""
        if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
            return False
        value = call.args[0].value
        callee: str | None = None
        if isinstance(value, cst.Call):
            callee = self.context.qualified_name(value.func) or dotted_name(value.func)
        elif isinstance(value, cst.Name):
            callee = self.facts.bindings.constructor_of(value.value)
        if callee is None:
            return False
        last_two = callee.split(".")[-2:]
        return any(part.endswith("Storage") for part in last_two) or last_two[-1] in (
            "storage",
            "untyped_storage",
        )

    def _shape(self, call: cst.Call) -> Shape:
        positional = [a for a in call.args if a.keyword is None]
        if not positional:
            return Shape.EMPTY
        if len(positional) > 1 or any(a.star == "*" for a in positional):
            return Shape.SIZE
        value = positional[0].value
        if positional[0].star:
            return Shape.UNKNOWN
        if _is_data_expr(value):
            return Shape.DATA
        if _is_size_expr(value):
            return Shape.SIZE
        if isinstance(value, cst.Call):
            qualified = self.context.qualified_name(value.func) or ""
            if qualified.startswith(_FACTORY_PREFIXES) and _constructor(qualified) is None:
                return Shape.TENSOR
        return Shape.UNKNOWN

    def _use(self) -> Use:
        """How the tensor a size-form call allocates is used (``self.context.stack`` ends at it)."""
        stack = self.context.stack
        index = len(stack) - 1
        while index >= 2:
            node, parent, grand = stack[index], stack[index - 1], stack[index - 2]
            if (
                isinstance(parent, cst.Attribute)
                and parent.value is node
                and isinstance(grand, cst.Call)
                and grand.func is parent
            ):
                method = parent.attr.value
                if method in _INITIALISERS:
                    return Use.INITIALISED
                if method in _PASS_THROUGH:
                    index -= 2
                    continue
                return Use.READ
            break
        node = stack[index]
        above = stack[index - 1] if index >= 1 else None
        if isinstance(above, cst.Arg) and above.value is node and index >= 2:
            owner = stack[index - 2]
            if isinstance(owner, cst.Call):
                qualified = self.context.qualified_name(owner.func)
                if qualified in _PARAMETER:
                    return Use.PARAMETER
                func = owner.func
                if isinstance(func, cst.Attribute) and func.attr.value in _REGISTER:
                    return Use.STORED  # ``self.register_buffer("b", torch.Tensor(n))``
            return Use.READ
        if isinstance(above, (cst.Assign, cst.AnnAssign, cst.Return)) and above.value is node:
            return Use.STORED
        if isinstance(above, cst.Tuple):
            return Use.STORED  # ``a, b = torch.LongTensor(n), ...``: as good as assigned
        if (
            isinstance(above, cst.Element)
            and index >= 2
            and isinstance(stack[index - 2], cst.Tuple)
        ):
            return Use.STORED
        return Use.READ

    # -- the message and the replacement --------------------------------------------------------

    def _advice(
        self, call: cst.Call, shape: Shape, use: Use | None, type_name: str, cuda: bool
    ) -> tuple[str, str | None]:
        """(message, factory for the fix or None)."""
        dtype = _DTYPES[type_name]
        written = self.context.code(call.func)
        if "\n" in written:
            written = written.split("\n", 1)[0]
        device = ', device="cuda"' if cuda else ""
        kw = f"dtype=torch.{dtype}{device}"
        if type_name == "Tensor":
            legacy = f"`{written}(...)` is the deprecated legacy constructor"
        elif cuda:
            legacy = f"`{written}(...)` is a legacy constructor that warns as no longer recommended"
        else:
            legacy = f"`{written}(...)` is a legacy typed constructor"
        if shape is Shape.EMPTY:
            return f"{legacy}: use `torch.empty(0, {kw})` for an empty tensor", "empty"
        if shape is Shape.DATA:
            return f"{legacy} (here: from data): use `torch.tensor(data, {kw})`", "tensor"
        if shape is Shape.TENSOR:
            return (
                f"{legacy}; given a tensor it returns that tensor (an alias), so the call can go; "
                f"use `.to(torch.{dtype})` where a conversion is meant",
                None,
            )
        if shape is Shape.UNKNOWN and use in (Use.INITIALISED, Use.PARAMETER):
            # Filled at once or owned by a module: a size, most likely, but a variable could be a
            # list (``torch.empty([2, 3])`` is 2x3): no fix.
            return (
                f"{legacy} (here: most likely an uninitialised size): use "
                f"`torch.empty(size, {kw})`",
                None,
            )
        if shape is Shape.UNKNOWN:
            return (
                f"{legacy}: it copies its argument if that is a sequence but allocates "
                "uninitialised memory if it is an int: say which, with "
                f"`torch.tensor(data, {kw})` or `torch.zeros(size, {kw})`",
                None,
            )
        # A size: the memory is uninitialised.
        if use is Use.INITIALISED:
            return (
                f"{legacy} (here: an uninitialised size, filled at once): use "
                f"`torch.empty(size, {kw})` (or `torch.zeros` / `torch.full` for "
                "`.zero_()` / `.fill_(v)`)",
                "empty",
            )
        if use is Use.PARAMETER:
            return (
                f"{legacy} (here: an uninitialised parameter, initialised later): use "
                f"`torch.empty(size, {kw})`",
                "empty",
            )
        if use is Use.STORED:
            return (
                f"{legacy} (here: a size, so the memory is uninitialised): use "
                f"`torch.empty(size, {kw})` if every element is written before it is read, "
                f"otherwise `torch.zeros(size, {kw})`",
                "empty",
            )
        return (
            f"{legacy}, and with a size it allocates uninitialised memory, whose values are used "
            f"here: use `torch.zeros(size, {kw})`, or `torch.randint` / `torch.rand` for random "
            "values (`torch.empty` would keep them undefined)",
            None,
        )

    def _fix(self, call: cst.Call, factory: str, dtype: str, cuda: bool) -> FixPlan | None:
        args = list(call.args)
        if any(a.keyword is not None for a in args):
            return None
        if factory == "tensor" and not (len(args) == 1 and _literal_data(args[0].value)):
            return None  # ``list(x)`` may hold tensors; only literal data is rewritten
        if factory == "empty" and len(args) == 1:
            if args[0].star or not _is_size_expr(args[0].value, certain=True):
                return None  # ``2 * n`` repeats a list when ``n`` is one; ``*[[1, 2]]`` is data
        spelled_factory = spell(f"torch.{factory}", self.facts.names)
        spelled_dtype = spell(f"torch.{dtype}", self.facts.names)
        if spelled_factory is None or spelled_dtype is None:
            return None
        inner = ", ".join(a.star + self.context.code(a.value) for a in args) or "0"
        extra = f"dtype={spelled_dtype.code}"
        if cuda:
            extra += ', device="cuda"'
        code = f"{spelled_factory.code}({inner}, {extra})"
        changes: tuple[Change, ...] = (Replace(call, code),)
        for spelled in (spelled_factory, spelled_dtype):
            if spelled.needs_import:
                changes += (AddImport(spelled.needs_import),)
                break
        return FixPlan(
            f"Use `torch.{factory}(..., dtype=torch.{dtype})`", Applicability.UNSAFE, changes
        )
