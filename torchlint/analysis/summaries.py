"""Function summaries: what a call of a function or method does, for rules at its call sites.

A training step is spread over functions: ``forward`` returns probabilities and ``training_step``
feeds ``self(x)`` to a cross-entropy; ``utils.seed_everything()`` seeds every generator; a Trainer
helper clears the optimizer it is given. For every function and method of a file this module
records the facts a caller needs:

- ``returns``: what every ``return`` gives back, when they all agree: ``"softmax"`` (probabilities),
  ``"sigmoid"``, ``"log_softmax"`` (log-probabilities); None for anything else (logits, unknown);
- ``returns_device``: the hard-coded device (``"cuda"``) every returned tensor is created on;
- ``clears_grad``: the parameters (``"optimizer"``) and ``self`` attributes (``"self.opt"``) whose
  ``zero_grad()`` it calls;
- ``seeds``: the generators it seeds (``"torch"``, ``"cuda"``, ``"numpy"``, ``"random"``);
- ``backward`` / ``steps``: whether it calls ``backward()``, and whose ``step()`` it calls;
- ``moves_to_device``: the parameters it moves to a device (``x.to(device)``, ``x.cuda()``);
- ``calls``: the functions it calls by name (qualified where an import says), so that a project
  index can follow a helper that calls another helper.

Summaries are read from Python's own ``ast`` (an order of magnitude cheaper than LibCST's tree),
once per file, and are plain data: the project index (:mod:`torchlint.project_index`) keeps them per
module and a file's cache key includes the summaries it imports.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

_ACTIVATIONS: dict[str, str] = {
    "torch.softmax": "softmax",
    "torch.nn.functional.softmax": "softmax",
    "torch.special.softmax": "softmax",
    "torch.Tensor.softmax": "softmax",
    "torch.sigmoid": "sigmoid",
    "torch.nn.functional.sigmoid": "sigmoid",
    "torch.special.expit": "sigmoid",
    "torch.Tensor.sigmoid": "sigmoid",
    "torch.log_softmax": "log_softmax",
    "torch.nn.functional.log_softmax": "log_softmax",
    "torch.special.log_softmax": "log_softmax",
}
_ACTIVATION_MODULES = {
    "torch.nn.Softmax": "softmax",
    "torch.nn.Sigmoid": "sigmoid",
    "torch.nn.LogSoftmax": "log_softmax",
}
_ACTIVATION_METHODS = {"softmax": "softmax", "sigmoid": "sigmoid", "log_softmax": "log_softmax"}
_SEEDS: dict[str, tuple[str, ...]] = {
    "torch.manual_seed": ("torch",),
    "torch.random.manual_seed": ("torch",),
    "torch.cuda.manual_seed": ("cuda",),
    "torch.cuda.manual_seed_all": ("cuda",),
    "numpy.random.seed": ("numpy",),
    "random.seed": ("random",),
    "lightning.pytorch.seed_everything": ("torch", "cuda", "numpy", "random"),
    "lightning.seed_everything": ("torch", "cuda", "numpy", "random"),
    "lightning.fabric.seed_everything": ("torch", "cuda", "numpy", "random"),
    "pytorch_lightning.seed_everything": ("torch", "cuda", "numpy", "random"),
    "transformers.set_seed": ("torch", "cuda", "numpy", "random"),
    "accelerate.utils.set_seed": ("torch", "cuda", "numpy", "random"),
}
_TENSOR_FACTORIES = frozenset(
    {
        "torch.tensor",
        "torch.zeros",
        "torch.ones",
        "torch.empty",
        "torch.rand",
        "torch.randn",
        "torch.randint",
        "torch.arange",
        "torch.full",
        "torch.eye",
        "torch.linspace",
        "torch.as_tensor",
    }
)


@dataclass(frozen=True)
class FunctionSummary:
    name: str
    params: tuple[str, ...]
    # A method called on an instance or class: its first parameter is not passed by the caller.
    method: bool = False
    returns: str | None = None
    returns_device: str | None = None
    clears_grad: tuple[str, ...] = ()
    seeds: tuple[str, ...] = ()
    backward: bool = False
    steps: tuple[str, ...] = ()
    moves_to_device: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()

    def cleared_arguments(self, call_args: list[str | None]) -> list[str]:
        """The caller's keys whose gradients a call clears: ``call_args`` are the binding keys of
        the positional arguments (None where not a name)."""
        params = self.params[1:] if self.method else self.params
        out: list[str] = []
        for param, arg in zip(params, call_args, strict=False):
            if arg is not None and param in self.clears_grad:
                out.append(arg)
        return out


@dataclass(frozen=True)
class ClassSummary:
    name: str
    # Bases as written, resolved through the file's imports where they can be
    # (``torch.nn.Module``, ``models.base.BaseModel``), else the local spelling (``Base``).
    bases: tuple[str, ...]
    methods: dict[str, FunctionSummary] = field(default_factory=dict)


@dataclass(frozen=True)
class ModuleSummary:
    """What other files (and rules at call sites) need to know about one file."""

    module: str  # dotted module name ("pkg.models.base"); "" when unknown
    imports: dict[str, str]  # local name -> qualified name (relative imports made absolute)
    classes: dict[str, ClassSummary]
    functions: dict[str, FunctionSummary]

    def fingerprint(self) -> str:
        """A digest of everything a dependent file's findings may depend on."""
        text = json.dumps(asdict(self), sort_keys=True, default=list)
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# -- reading a file -------------------------------------------------------------------------------


# How a base class, as a module spells it, is found: the class and the module defining it.
ResolveClass = Callable[[str, ModuleSummary], tuple[ClassSummary, ModuleSummary] | None]


def base_classes(
    cls: ClassSummary, summary: ModuleSummary, resolve: ResolveClass
) -> list[tuple[ClassSummary, ModuleSummary]]:
    """The classes ``cls`` (defined in ``summary``) derives from, itself excluded, nearest first,
    as far as ``resolve`` finds them (at most 32)."""
    out: list[tuple[ClassSummary, ModuleSummary]] = []
    seen = {id(cls)}
    pending = [(cls, summary)]
    while pending and len(out) < 32:
        current, where = pending.pop(0)
        for base in current.bases:
            found = resolve(base, where)
            if found is not None and id(found[0]) not in seen:
                seen.add(id(found[0]))
                out.append(found)
                pending.append(found)
    return out


def inherited_method(
    cls: ClassSummary, summary: ModuleSummary, name: str, resolve: ResolveClass
) -> FunctionSummary | None:
    """``cls.name``: defined by the class or inherited from a base ``resolve`` finds."""
    if name in cls.methods:
        return cls.methods[name]
    for base, _ in base_classes(cls, summary, resolve):
        if name in base.methods:
            return base.methods[name]
    return None


def summarize_source(source: str, module: str = "", is_package: bool = False) -> ModuleSummary:
    """The summary of one file's text (an empty one when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ModuleSummary(module, {}, {}, {})
    return summarize_tree(tree, module, is_package)


def summarize_tree(tree: ast.Module, module: str = "", is_package: bool = False) -> ModuleSummary:
    imports = _module_imports(tree, module, is_package)
    top = _top_level(tree.body)
    # Inside the file, its own functions and classes are called by their plain names: qualify
    # them with the module's, so that a project index can follow one helper into the next.
    names = dict(imports)
    for node in top:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = f"{module}.{node.name}" if module else node.name
    classes: dict[str, ClassSummary] = {}
    functions: dict[str, FunctionSummary] = {}
    for node in top:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = _summarize_function(node, names)
        elif isinstance(node, ast.ClassDef):
            methods = {
                item.name: _summarize_function(item, names, method=True)
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
            bases = tuple(
                b for b in (_qualified(base, imports) for base in node.bases) if b is not None
            )
            classes[node.name] = ClassSummary(node.name, bases, methods)
    return ModuleSummary(module, imports, classes, functions)


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, including those under top-level ``if``/``try``."""
    out: list[ast.stmt] = []
    pending = list(body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.If):
            pending[:0] = [*node.body, *node.orelse]
        elif isinstance(node, ast.Try):
            pending[:0] = [*node.body, *[s for h in node.handlers for s in h.body], *node.orelse]
        else:
            out.append(node)
    return out


def resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str | None:
    """The absolute module ``from <level dots><name> import ...`` means inside ``module``."""
    parts = module.split(".") if module else []
    package = parts if is_package else parts[:-1]
    if level - 1 > len(package):
        return None
    base = package[: len(package) - (level - 1)]
    if name:
        base = [*base, *name.split(".")]
    return ".".join(base) if base else None


def _module_imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in _top_level(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    out[alias.asname] = alias.name
                else:
                    top = alias.name.split(".", 1)[0]
                    out[top] = top
        elif isinstance(node, ast.ImportFrom):
            source = node.module
            if node.level:
                source = resolve_relative(module, is_package, node.level, node.module)
            if source is None:
                continue
            for alias in node.names:
                if alias.name == "*":
                    continue
                out[alias.asname or alias.name] = f"{source}.{alias.name}"
    return out


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _qualified(node: ast.expr, imports: dict[str, str]) -> str | None:
    """The qualified name of a name or attribute chain through the imports, else its spelling."""
    dotted = _dotted(node)
    if dotted is None:
        return None
    root, _, rest = dotted.partition(".")
    target = imports.get(root)
    if target is None:
        return dotted
    # Imported here, not at the top: the warm run's cache keys read the project index without
    # LibCST, which ``names`` imports.
    from torchlint.analysis.names import canonical

    return canonical(f"{target}.{rest}" if rest else target)


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    args = node.args
    return tuple(a.arg for a in (*args.posonlyargs, *args.args))


class _FunctionReader(ast.NodeVisitor):
    """One walk over a function body (nested functions and classes excluded)."""

    def __init__(self, imports: dict[str, str], params: tuple[str, ...], method: bool) -> None:
        self.imports = imports
        self.roots = {name.split(".", 1)[0] for name in imports.values()}
        self.params = params
        self.self_name = params[0] if method and params else None
        self.assigned: dict[str, list[ast.expr | None]] = {}
        self.returns: list[ast.expr | None] = []
        self.clears: list[str] = []
        self.seeds: list[str] = []
        self.backward = False
        self.steps: list[str] = []
        self.moves: list[str] = []
        self.calls: list[str] = []

    def run(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.visit(statement)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.assigned.setdefault(node.name, []).append(None)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.assigned.setdefault(node.name, []).append(None)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.assigned.setdefault(node.name, []).append(None)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return

    def visit_Return(self, node: ast.Return) -> None:
        self.returns.append(node.value)
        self.generic_visit(node)

    def _bind(self, target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            self.assigned.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind(element, None)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, None)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._bind(node.target, None)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._bind(node.target, None)
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind(item.optional_vars, None)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind(node.target, None)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        qualified = _qualified(func, self.imports)
        if qualified is not None and qualified.split(".", 1)[0] in self.roots:
            self.calls.append(qualified)  # an import or a function of the file: followable
            self.seeds.extend(_SEEDS.get(qualified, ()))
        if isinstance(func, ast.Attribute):
            receiver = _dotted(func.value)
            if func.attr == "zero_grad" and receiver is not None:
                self.clears.append(self._key(receiver))
            elif func.attr == "backward":
                self.backward = True
            elif func.attr == "step" and receiver is not None:
                self.steps.append(self._key(receiver))
            elif func.attr in ("to", "cuda") and isinstance(func.value, ast.Name):
                if func.value.id in self.params:
                    self.moves.append(func.value.id)
        self.generic_visit(node)

    def _key(self, receiver: str) -> str:
        """``self.opt`` with the method's own first parameter spelled ``self``."""
        root, dot, rest = receiver.partition(".")
        if self.self_name is not None and root == self.self_name:
            return "self" + dot + rest
        return receiver

    # -- what the returns are -----------------------------------------------------------------
    def returned_kind(self) -> str | None:
        kinds = {self._kind(value, depth=0) for value in self.returns if value is not None}
        if len(kinds) != 1 or len(self.returns) != sum(v is not None for v in self.returns):
            return None
        return kinds.pop()

    def _kind(self, value: ast.expr, depth: int) -> str | None:
        if isinstance(value, ast.Name) and depth < 4:
            assigned = self.assigned.get(value.id, [])
            if len(assigned) == 1 and assigned[0] is not None and value.id not in self.params:
                return self._kind(assigned[0], depth + 1)
            return None
        if not isinstance(value, ast.Call):
            return None
        func = value.func
        if isinstance(func, ast.Call):  # nn.Softmax(dim=1)(x)
            module = _qualified(func.func, self.imports)
            return _ACTIVATION_MODULES.get(module or "")
        qualified = _qualified(func, self.imports)
        if qualified is not None and qualified in _ACTIVATIONS:
            return _ACTIVATIONS[qualified]
        if isinstance(func, ast.Attribute) and func.attr in _ACTIVATION_METHODS:
            receiver = func.value
            if isinstance(receiver, ast.Name) and (
                receiver.id == self.self_name or receiver.id in self.imports
            ):
                return None  # the class's own method, or a module's function we do not know
            if isinstance(receiver, ast.Attribute) and _dotted(receiver) is not None:
                root = _dotted(receiver) or ""
                if root.split(".", 1)[0] in self.imports:
                    return None  # scipy.special.softmax, np.something.softmax
            return _ACTIVATION_METHODS[func.attr]
        return None

    def returned_device(self) -> str | None:
        devices = {self._device(value) for value in self.returns if value is not None}
        if len(devices) != 1 or not self.returns:
            return None
        return devices.pop()

    def _device(self, value: ast.expr) -> str | None:
        if isinstance(value, ast.Name):
            assigned = self.assigned.get(value.id, [])
            if len(assigned) == 1 and assigned[0] is not None and value.id not in self.params:
                return self._device(assigned[0])
            return None
        if not isinstance(value, ast.Call):
            return None
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr == "cuda" and not value.args:
            return "cuda"
        if isinstance(func, ast.Attribute) and func.attr == "to" and value.args:
            return _device_literal(value.args[0])
        if _qualified(func, self.imports) in _TENSOR_FACTORIES:
            for keyword in value.keywords:
                if keyword.arg == "device":
                    return _device_literal(keyword.value)
        return None


def _device_literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value.split(":", 1)[0]
        return text if text in ("cuda", "mps", "xpu") else None
    return None


def _summarize_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, imports: dict[str, str], method: bool = False
) -> FunctionSummary:
    params = _params(node)
    if method and any(_decorator(d) == "staticmethod" for d in node.decorator_list):
        method = False
    reader = _FunctionReader(imports, params, method)
    reader.run(node.body)
    return FunctionSummary(
        name=node.name,
        params=params,
        method=method,
        returns=reader.returned_kind(),
        returns_device=reader.returned_device(),
        clears_grad=tuple(sorted(set(reader.clears))),
        seeds=tuple(sorted(set(reader.seeds))),
        backward=reader.backward,
        steps=tuple(sorted(set(reader.steps))),
        moves_to_device=tuple(sorted(set(reader.moves))),
        calls=tuple(sorted(set(reader.calls))),
    )


def _decorator(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    dotted = _dotted(node)
    return None if dotted is None else dotted.rsplit(".", 1)[-1]
