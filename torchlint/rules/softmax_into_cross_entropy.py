"""TL002 softmax-into-cross-entropy.

``F.cross_entropy`` and ``nn.CrossEntropyLoss`` apply ``log_softmax`` to their input themselves.
Feeding them probabilities applies softmax twice: the loss still decreases, but its gradients are
squashed and the model trains slowly or plateaus, with nothing crashing.
"""

from __future__ import annotations

from collections import Counter

import libcst as cst

from torchlint.analysis.activations import first_input
from torchlint.analysis.bindings import binding_key
from torchlint.analysis.dataflow import (
    Reaching,
    count_name,
    enclosing_scope,
    name_counts,
    reaching_assignment,
)
from torchlint.analysis.reaching import reaching_assignments
from torchlint.analysis.walk import PathUp, Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import Change, FixPlan, RemoveStatement, Replace
from torchlint.rule import Rule

CROSS_ENTROPY_FUNCTIONS = frozenset({"torch.nn.functional.cross_entropy"})
CROSS_ENTROPY_MODULES = frozenset({"torch.nn.CrossEntropyLoss"})
SOFTMAX_FUNCTIONS = frozenset(
    {
        "torch.softmax",
        "torch.nn.functional.softmax",
        "torch.special.softmax",
        "torch.Tensor.softmax",
    }
)
SOFTMAX_MODULES = frozenset({"torch.nn.Softmax"})


class SoftmaxIntoCrossEntropy(Rule):
    code = "TL002"
    name = "softmax-into-cross-entropy"
    summary = "A cross-entropy loss is given softmax probabilities instead of logits"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    # The loss too: the softmax may be in another function or file (``self(x)``).
    needles = ("softmax", "Softmax", "cross_entropy", "CrossEntropyLoss")

    def setup(self) -> None:
        self._pending: list[_Pending] = []

    # -- what the call is ----------------------------------------------------------------------
    def _is_cross_entropy(self, call: cst.Call) -> bool:
        func = call.func
        if isinstance(func, cst.Call):  # nn.CrossEntropyLoss(...)(x, y)
            return self.context.qualified_name(func.func) in CROSS_ENTROPY_MODULES
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            return qualified in CROSS_ENTROPY_FUNCTIONS
        key = binding_key(func)
        path = self.context.path_up()
        return (
            key is not None
            and self.facts.bindings.constructor_of(key, path, among=CROSS_ENTROPY_MODULES)
            in CROSS_ENTROPY_MODULES
        )

    def _softmax_argument(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """The tensor ``expr`` takes the softmax of, when ``expr`` is a softmax call; else None.

        A softmax call whose argument cannot be told (``*args``) answers the call itself.
        """
        if not isinstance(expr, cst.Call):
            return None
        func = expr.func
        if isinstance(func, cst.Call):  # nn.Softmax(dim=1)(x)
            if self.context.qualified_name(func.func) in SOFTMAX_MODULES:
                return self._first_argument(expr)
            return None
        if self.facts.calls.returns(expr, self.context.path_up()) == "softmax":
            return expr  # ``self(x)``, ``predict(x)``: a function that returns probabilities
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            if qualified in SOFTMAX_FUNCTIONS:
                return self._first_argument(expr)
            return None  # some other imported callable (scipy, jax, ...)
        key = binding_key(func)
        path = self.context.path_up()
        if key is not None and self.facts.bindings.bound(key, path):
            # A name or attribute bound where it is called: softmax only when bound to nn.Softmax.
            if self.facts.bindings.constructor_of(key, path) in SOFTMAX_MODULES:
                return self._first_argument(expr)
            return None
        if isinstance(func, cst.Attribute) and func.attr.value == "softmax":
            receiver = func.value
            if (
                isinstance(receiver, cst.Name)
                and receiver.value == "self"
                and "softmax" in self.facts.bindings.functions
            ):
                return None  # the class's own ``softmax`` method
            return receiver  # tensor.softmax(dim)
        return None

    @staticmethod
    def _first_argument(call: cst.Call) -> cst.BaseExpression:
        arg = first_input(call)
        return arg.value if arg is not None else call

    # -- the check -----------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if not self._is_cross_entropy(node):
            return
        loss_input = first_input(node)
        if loss_input is None:
            return
        value = loss_input.value
        argument = self._softmax_argument(value)
        if argument is not None:
            pending = _Pending(node, self._message())
            if argument is not value:
                pending.title = "Pass the logits instead of the softmax output"
                pending.changes = [Replace(value, argument, self.context.block_indent())]
                pending.removed = _removed_names(value, argument)
                self._free_softmax_module(value, self.context.path_up(), pending)
            self._pending.append(pending)
            return
        if not isinstance(value, cst.Name):
            return
        path = self.context.path_up()
        # Every assignment that may reach the loss (both branches of an ``if``, a loop's back
        # edge...) must be a softmax: one path giving logits is not reported.
        reachings = reaching_assignments(path, value.value)
        if not reachings:
            return
        arguments = [self._softmax_argument(r.value) for r in reachings]
        if any(a is None for a in arguments):
            return
        reaching, argument = reachings[0], arguments[0]
        if argument is None:
            return
        pending = _Pending(node, self._message(f"`{value.value}` holds softmax probabilities"))
        if (
            len(reachings) == 1
            and isinstance(argument, cst.Name)
            and argument is not reaching.value
            and argument.value != value.value
            and not reaching.rebinds(argument.value)
        ):
            scope = enclosing_scope(path)
            removal = _assignment_removal(reaching)
            if scope is not None and count_name(scope, value.value) == 2 and removal is not None:
                # The probabilities are used only here: the assignment goes with them.
                pending.title = f"Pass `{argument.value}` (the logits) instead of `{value.value}`"
                pending.changes = [Replace(value, cst.Name(argument.value)), removal]
                pending.removed = _removed_names(reaching.value, argument)
                self._free_softmax_module(reaching.value, reaching.path, pending)
        self._pending.append(pending)

    def _free_softmax_module(
        self, softmax: cst.BaseExpression, path: PathUp, pending: _Pending
    ) -> None:
        """``to_probs = nn.Softmax(dim=1)`` used only by the softmax the fix deletes: delete it."""
        if not isinstance(softmax, cst.Call) or not isinstance(softmax.func, cst.Name):
            return
        name = softmax.func.value
        reaching = reaching_assignment(path, name)
        if reaching is None or not isinstance(reaching.value, cst.Call):
            return
        if self.context.qualified_name(reaching.value.func) not in SOFTMAX_MODULES:
            return
        scope = enclosing_scope(reaching.path)
        removal = _assignment_removal(reaching)
        if scope is None or removal is None or count_name(scope, name) != 2:
            return
        pending.changes.append(removal)
        pending.removed.update(name_counts(reaching.value))

    # -- reporting, with the imports the fixes leave unused -----------------------------------------
    def leave_Module(self, original_node: cst.Module) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        imports = _import_changes(original_node, [p for p in pending if p.changes])
        for item in pending:
            fix = None
            if item.changes:
                changes = list(item.changes)
                for group, change in imports:
                    if item in group:
                        # Every fix that frees this import comes along: applied alone, the
                        # removal would strand the other uses.
                        for other in group:
                            changes.extend(other.changes)
                        changes.append(change)
                unique = list({id(c): c for c in changes}.values())
                fix = FixPlan(item.title, Applicability.UNSAFE, tuple(unique))
            self.report(item.node, item.message, fix=fix)

    @staticmethod
    def _message(detail: str = "its input is a softmax output") -> str:
        return (
            f"Cross-entropy applies `log_softmax` itself, but {detail}: pass the raw logits "
            "(softmax applied twice trains badly and silently)"
        )


class _Pending:
    """A finding held until the end of the file, when the imports its fix frees are known."""

    def __init__(self, node: cst.Call, message: str) -> None:
        self.node = node
        self.message = message
        self.title = ""
        self.changes: list[Change] = []
        # Names whose appearances the fix deletes (``F`` of ``F.softmax(x, dim=1)``).
        self.removed: Counter[str] = Counter()


def _removed_names(removed: cst.CSTNode, kept: cst.CSTNode) -> Counter[str]:
    """Names appearing in ``removed`` but not inside its kept part ``kept``."""
    out = name_counts(removed)
    if kept is not removed:
        out.subtract(name_counts(kept))
    return +out


def _assignment_removal(reaching: Reaching) -> Change | None:
    """Deleting ``probs = softmax(logits)``, when it is a statement line of its own."""
    statement = reaching.statement
    if not isinstance(statement, cst.Assign) or len(statement.targets) != 1:
        return None
    if len(reaching.path) < 2:
        return None
    line, _ = reaching.path[0]
    block, _ = reaching.path[1]
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    if not isinstance(block, (cst.IndentedBlock, cst.Module)):
        return None
    return RemoveStatement(line, replace_with_pass=len(block.body) == 1)


class _Imports(Walker):
    """Module-level import statements, and every other appearance of a name."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[tuple[cst.SimpleStatementLine, cst.Import | cst.ImportFrom]] = []
        self._line: cst.SimpleStatementLine | None = None

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        self._line = node
        return True

    def visit_Import(self, node: cst.Import) -> bool:
        if self._line is not None and len(self._line.body) == 1:
            self.statements.append((self._line, node))
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if self._line is not None and len(self._line.body) == 1:
            if not isinstance(node.names, cst.ImportStar):
                self.statements.append((self._line, node))
        return False


def _bound_name(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None:
        name = alias.asname.name
        return name.value if isinstance(name, cst.Name) else None
    if isinstance(alias.name, cst.Name):
        return alias.name.value
    return None  # ``import torch.nn.functional`` binds ``torch``: leave it


def _import_changes(
    module: cst.Module, pending: list[_Pending]
) -> list[tuple[list[_Pending], Change]]:
    """For each import alias the fixes leave unused: the fixes that free it, and its removal."""
    freed: Counter[str] = Counter()
    for item in pending:
        freed.update(item.removed)
    if not freed:
        return []
    walker = _Imports()
    for top in module.body:  # module level only
        if isinstance(top, cst.SimpleStatementLine):
            walker.walk(top)
    if not walker.statements:
        return []
    counts = name_counts(module)
    for _, imported in walker.statements:
        counts.subtract(name_counts(imported))
    out: list[tuple[list[_Pending], Change]] = []
    for line, imported in walker.statements:
        names = imported.names
        assert not isinstance(names, cst.ImportStar)
        aliases = list(names)
        unused = []
        for alias in aliases:
            bound = _bound_name(alias)
            # Every appearance outside the imports is one a fix deletes.
            if bound is not None and freed[bound] and counts[bound] == freed[bound]:
                unused.append(alias)
        if not unused:
            continue
        bound_names = {_bound_name(a) for a in unused}
        group = [p for p in pending if any(name in p.removed for name in bound_names)]
        if len(unused) == len(aliases):
            change: Change = RemoveStatement(line, replace_with_pass=False)
        else:
            kept = [a for a in aliases if a not in unused]
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            change = Replace(imported, imported.with_changes(names=kept))
        out.append((group, change))
    return out
