"""TL020 eval-without-no-grad.

An evaluation loop that calls the model with autograd on records a graph for every batch and keeps
every activation it needs alive until the output is dropped: several times the memory and a good
share of the time of the same loop under ``torch.no_grad()``, for gradients nobody asks for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.bindings import binding_key, last_component
from torchlint.analysis.evaluation import is_eval_loader, is_eval_name
from torchlint.analysis.grad_mode import grad_disabled_at, grad_mode_of
from torchlint.analysis.names import dotted_name
from torchlint.analysis.pytest_style import is_test_routine
from torchlint.analysis.training_loops import call_attr, is_backward, receiver
from torchlint.analysis.walk import SCOPES, PathUp, walk
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, FixPlan, Replace, render
from torchlint.rule import Rule

if TYPE_CHECKING:
    from torchlint.analysis.facts import TorchFacts

# Lightning runs these hooks with gradients off itself.
_LIGHTNING_HOOKS = re.compile(r"^(validation|test|predict)_step$|^on_(validation|test|predict)_")
_MODEL_NAME = re.compile(
    r"^_*(model|net|network|\w+_model|model_\w+|\w+_net|net_\w+|encoder|decoder|classifier|"
    r"backbone|generator|discriminator|policy|actor|critic|student|teacher|unet|vae|"
    r"transformer|detector|segmenter|predictor)s?$",
    re.IGNORECASE,
)
_MODEL_FACTORIES = re.compile(r"^(torchvision\.models\.|timm\.create_model$|transformers\.)")
_WRAPPERS = ("enumerate", "tqdm", "tqdm.tqdm", "iter", "tqdm.auto.tqdm", "progress_bar")


# A project's own context manager for evaluation (MONAI's ``eval_mode`` also disables
# gradients), or one named for what it does.
_EVAL_CONTEXT = re.compile(r"^(eval_mode|evaluating|evaluation_mode)$|no_grad|inference", re.I)


def _evaluation_context(item: cst.BaseExpression) -> bool:
    if not isinstance(item, cst.Call):
        return False
    name = dotted_name(item.func)
    return name is not None and bool(_EVAL_CONTEXT.search(name.rsplit(".", 1)[-1]))


def _iterable(loop: cst.For) -> cst.BaseExpression:
    iterable = loop.iter
    while isinstance(iterable, cst.Call) and iterable.args:
        if dotted_name(iterable.func) not in _WRAPPERS:
            break
        iterable = iterable.args[0].value
    return iterable


@dataclass
class _Candidate:
    call: cst.Call
    function: str | None  # the enclosing function's name: a caller may disable grad around it
    fix: FixPlan | None


class _Scan:
    """What a function body or a loop body does with gradients."""

    def __init__(self, facts: TorchFacts) -> None:
        self.facts = facts
        self.wants_grad = False

    def visit(self, node: cst.CSTNode) -> bool:
        if self.wants_grad:
            return False
        if isinstance(node, (cst.ClassDef, cst.Lambda)):
            return False
        if isinstance(node, cst.Call):
            if is_backward(node, self.facts):
                self.wants_grad = True
            qualified = self.facts.names.resolve(node.func) or ""
            if qualified in ("torch.autograd.grad", "torch.autograd.functional.jacobian"):
                self.wants_grad = True
            if grad_mode_of(node, self.facts.names) is True:
                self.wants_grad = True  # enable_grad / set_grad_enabled(flag): deliberate
        elif isinstance(node, cst.Name) and node.value in ("requires_grad", "requires_grad_"):
            self.wants_grad = True
        return not self.wants_grad


class EvalWithoutNoGrad(Rule):
    code = "TL020"
    name = "eval-without-no-grad"
    summary = "An evaluation loop calls the model with autograd recording (no `torch.no_grad()`)"
    category = Category.CORRECTNESS
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    preview = True
    fix_applicability = Applicability.UNSAFE
    needles = ("for ", "while ")

    def setup(self) -> None:
        self._candidates: list[_Candidate] = []
        self._no_grad_callers: set[str] = set()  # functions called with grad off somewhere
        self._eval_receivers: dict[int, set[str]] = {}  # function id -> keys of ``X.eval()``
        self._wants_grad: dict[int, bool] = {}
        self._model_bindings: dict[str, bool] = {}
        self._reported_loops: set[int] = set()

    # -- collection -----------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = dotted_name(func)
        if name is not None and grad_disabled_at(self.context.path_up(), self.facts.names):
            self._no_grad_callers.add(name.rsplit(".", 1)[-1])
        if call_attr(node) == "eval" and not node.args:
            recv = receiver(node)
            key = binding_key(recv) if recv is not None else None
            function = self.context.enclosing(cst.FunctionDef)
            if key is not None:
                self._eval_receivers.setdefault(id(function), set()).add(key)
            return
        if isinstance(func, (cst.Name, cst.Attribute)):
            self._check_model_call(node, func)

    def leave_Module(self, original_node: cst.Module) -> None:
        for candidate in self._candidates:
            if candidate.function is not None and candidate.function in self._no_grad_callers:
                continue  # ``with torch.no_grad(): evaluate(...)``
            shown = self.context.code(candidate.call.func)
            short = len(shown) <= 40 and "\n" not in shown
            what = f"`{shown}(...)`" if short else "the model"
            self.report(
                candidate.call,
                f"{what} runs in an evaluation loop with autograd recording: every batch builds a "
                "graph and keeps its activations alive; wrap the loop in `torch.no_grad()` or "
                "`torch.inference_mode()`",
                fix=candidate.fix,
            )

    # -- the model call -------------------------------------------------------------------------
    def _check_model_call(self, node: cst.Call, func: cst.BaseExpression) -> None:
        path = self.context.path_up()
        function = self.context.enclosing(cst.FunctionDef)
        if not self._model_like(func, function):
            return
        if function is not None and _LIGHTNING_HOOKS.match(function.name.value):
            return
        for ancestor, child in path:
            if isinstance(ancestor, cst.With) and child is ancestor.body:
                if any(grad_mode_of(i.item, self.facts.names) is not None for i in ancestor.items):
                    return  # grad off, or turned on on purpose
                if any(_evaluation_context(i.item) for i in ancestor.items):
                    return  # ``with eval_mode(model):`` (MONAI's turns gradients off too)
            if isinstance(ancestor, SCOPES):
                break
        if grad_disabled_at(path, self.facts.names):
            return
        by_name = function is not None and self._evaluates_by_name(function)
        loop = self._eval_loop(path, by_name)
        if loop is None or id(loop) in self._reported_loops:
            return
        self._reported_loops.add(id(loop))
        fix = None
        if by_name and function is not None:
            fix = self._decorator_fix(function)
        if fix is None:
            fix = self._wrap_fix(loop)
        name = function.name.value if function is not None else None
        self._candidates.append(_Candidate(node, name, fix))

    def _model_like(self, func: cst.BaseExpression, function: cst.FunctionDef | None) -> bool:
        key = binding_key(func)
        if key is None:
            return False
        if key in self._eval_receivers.get(id(function), ()):
            return True
        if self._own_method(key):
            return False  # ``self.validate_single_model(...)``: a method of the class, no model
        if _MODEL_NAME.match(last_component(key)):
            return True
        known = self._model_bindings.get(key)
        if known is None:
            known = self._model_bindings[key] = self._bound_to_model(key)
        return known

    def _own_method(self, key: str) -> bool:
        """``self.name`` where ``name`` is a method the enclosing class defines."""
        owner, _, name = key.partition(".")
        if owner != "self" or not name or "." in name:
            return False
        cls = self.context.enclosing(cst.ClassDef)
        if cls is None or not isinstance(cls.body, cst.IndentedBlock):
            return False
        return any(
            isinstance(statement, cst.FunctionDef) and statement.name.value == name
            for statement in cls.body.body
        )

    def _bound_to_model(self, key: str) -> bool:
        """Whether some binding of ``key`` in the file builds a model (memoised per key)."""
        for value in self.facts.bindings.values.get(key, ()):
            if not isinstance(value, cst.Call):
                continue
            qualified = self.context.qualified_name(value.func) or ""
            if _MODEL_FACTORIES.match(qualified) or qualified.endswith(".from_pretrained"):
                return True
            callee = dotted_name(value.func)
            local = self.facts.bindings.classes.get(callee or "")
            if local is not None and self.facts.is_module_class(local):
                return True
        return False

    def _evaluates_by_name(self, function: cst.FunctionDef) -> bool:
        """An ``evaluate``/``validate``/``test*`` function that never needs gradients."""
        name = function.name.value
        if not is_eval_name(name):
            return False
        if self.context.test_code and is_test_routine(name):
            return False  # a test or a tests' helper, not an evaluation routine
        return not self._function_wants_grad(function)

    def _eval_loop(self, path: PathUp, by_name: bool) -> cst.For | cst.While | None:
        """The evaluation loop the call runs in: over an evaluation loader, or any loop of an
        evaluation function; None when a loop around the call computes gradients."""
        found: cst.For | cst.While | None = None
        for ancestor, child in path:
            if isinstance(ancestor, SCOPES):
                break
            if not isinstance(ancestor, (cst.For, cst.While)) or child is not ancestor.body:
                continue
            if self.facts.loop(ancestor).backwards or self._wants_grad_in(ancestor.body):
                return None  # this loop computes gradients: not an evaluation loop
            if isinstance(ancestor, cst.For) and is_eval_loader(_iterable(ancestor)):
                return ancestor
            if by_name and found is None:
                found = ancestor
        return found

    def _function_wants_grad(self, function: cst.FunctionDef) -> bool:
        known = self._wants_grad.get(id(function))
        if known is None:
            known = self._wants_grad[id(function)] = self._wants_grad_in(function.body)
        return known

    def _wants_grad_in(self, node: cst.CSTNode) -> bool:
        scan = _Scan(self.facts)
        walk(node, scan.visit)
        return scan.wants_grad

    # -- fixes ----------------------------------------------------------------------------------
    def _decorator_fix(self, function: cst.FunctionDef) -> FixPlan | None:
        if function.decorators or function.asynchronous is not None:
            return None
        decorator = cst.Decorator(decorator=cst.parse_expression("torch.no_grad()"))
        text = self._statement_text(function, function.with_changes(decorators=[decorator]))
        if text is None:
            return None
        return FixPlan(
            "Decorate the evaluation function with `@torch.no_grad()`",
            Applicability.UNSAFE,
            (Replace(function, text), AddImport("torch")),
        )

    def _wrap_fix(self, loop: cst.For | cst.While) -> FixPlan | None:
        wrapped = cst.With(
            items=[cst.WithItem(item=cst.parse_expression("torch.no_grad()"))],
            body=cst.IndentedBlock(body=[loop.with_changes(leading_lines=())]),
        )
        text = self._statement_text(loop, wrapped)
        if text is None:
            return None
        return FixPlan(
            "Wrap the evaluation loop in `with torch.no_grad():`",
            Applicability.UNSAFE,
            (Replace(loop, text), AddImport("torch")),
        )

    def _statement_text(self, old: cst.BaseStatement, new: cst.BaseStatement) -> str | None:
        """Code replacing ``old``'s span (from its first keyword to its last line's code) by ``new``
        (which ends with the same line): re-indented, the last line's comment left in place."""
        module = self.context.module
        tail = _last_line(old)
        if tail is None:
            return None
        indent = ""
        for node in self.context.stack:
            if node is old:
                break
            if isinstance(node, cst.IndentedBlock):
                indent += node.indent if node.indent is not None else module.default_indent
        text = render(new.with_changes(leading_lines=()), module, indent)
        trailing = module.code_for_node(tail.trailing_whitespace)
        if not text.startswith(indent) or not text.endswith(trailing):
            return None
        return text[len(indent) : len(text) - len(trailing)]


def _last_line(statement: cst.BaseStatement) -> cst.SimpleStatementLine | None:
    """The statement line a compound statement ends with, when no block footer follows it."""
    current: cst.CSTNode = statement
    while True:
        if isinstance(current, cst.SimpleStatementLine):
            return current
        if isinstance(current, (cst.For, cst.While, cst.If, cst.With, cst.FunctionDef)):
            orelse = getattr(current, "orelse", None)
            if orelse is not None:
                current = orelse if isinstance(orelse, cst.If) else orelse.body
                if isinstance(current, cst.IndentedBlock):
                    if current.footer:
                        return None
                    current = current.body[-1]
                continue
            body = current.body
            if not isinstance(body, cst.IndentedBlock) or body.footer:
                return None
            current = body.body[-1]
            continue
        return None
