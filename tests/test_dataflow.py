"""The reaching-assignment helper, on real parsed code.

Each snippet marks the use with ``use(name)``; the helper is asked what reaches that use.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from torchlint.analysis.dataflow import (
    binds,
    count_name,
    enclosing_scope,
    path_from_stack,
    reaching_assignment,
    reaching_value,
)
from torchlint.analysis.names import may_rebind


class _FindUse(cst.CSTVisitor):
    """Records the ancestor stack of the first ``use(...)`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[cst.CSTNode] = []
        self.found: list[cst.CSTNode] | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if (
            self.found is None
            and isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == "use"
        ):
            self.found = list(self.stack)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def _parse(source: str) -> tuple[cst.Module, list[tuple[cst.CSTNode, cst.CSTNode]]]:
    module = cst.parse_module(textwrap.dedent(source))
    finder = _FindUse()
    module.visit(finder)
    assert finder.found is not None, "snippet has no use(...) call"
    return module, path_from_stack(finder.found)


def _reaching(source: str, name: str = "p") -> str | None:
    module, path = _parse(source)
    value = reaching_value(path, name)
    return None if value is None else module.code_for_node(value)


# -- found ----------------------------------------------------------------------------------------


def test_previous_statement() -> None:
    assert _reaching("p = f(x)\nuse(p)\n") == "f(x)"


def test_last_of_several_assignments_wins() -> None:
    assert _reaching("p = f(x)\np = g(x)\nuse(p)\n") == "g(x)"


def test_annotated_assignment() -> None:
    assert _reaching("p: Tensor = f(x)\nuse(p)\n") == "f(x)"


def test_chained_assignment() -> None:
    assert _reaching("q = p = f(x)\nuse(p)\n") == "f(x)"


def test_same_line_small_statements() -> None:
    assert _reaching("p = f(x); y = 1; use(p)\n") == "f(x)"


def test_walks_out_of_if_body_to_enclosing_block() -> None:
    source = """
    def step(x):
        p = f(x)
        if flag:
            log(x)
            use(p)
    """
    assert _reaching(source) == "f(x)"


def test_walks_out_of_with_body() -> None:
    source = """
    def step(x):
        p = f(x)
        with torch.autocast("cuda"):
            use(p)
    """
    assert _reaching(source) == "f(x)"


def test_with_unrelated_if_in_between() -> None:
    source = """
    def step(x):
        p = f(x)
        if flag:
            y = 2
        else:
            z = 3
        use(p)
    """
    assert _reaching(source) == "f(x)"


def test_loop_that_does_not_bind_the_name() -> None:
    source = """
    def run(x):
        p = f(x)
        for batch in loader:
            total = use(p)
    """
    assert _reaching(source) == "f(x)"


def test_try_body_is_straight_line() -> None:
    source = """
    def run(x):
        p = f(x)
        try:
            use(p)
        except ValueError:
            pass
    """
    assert _reaching(source) == "f(x)"


def test_use_inside_the_value_of_its_own_assignment() -> None:
    # The right-hand side is evaluated before the name is rebound.
    assert _reaching("p = f(x)\np = use(p)\n") == "f(x)"


# -- unknown ------------------------------------------------------------------------------------


def test_parameter_is_unknown() -> None:
    assert _reaching("def g(p):\n    use(p)\n") is None


def test_global_or_closure_is_unknown() -> None:
    source = """
    p = f(x)
    def g():
        use(p)
    """
    assert _reaching(source) is None


def test_never_assigned_is_unknown() -> None:
    assert _reaching("use(p)\n") is None


def test_reassigned_after_is_the_new_value() -> None:
    assert _reaching("p = f(x)\np = model(x)\nuse(p)\n") == "model(x)"


def test_tuple_unpacking_is_unknown() -> None:
    assert _reaching("p = f(x)\np, q = g(x)\nuse(p)\n") is None


def test_starred_unpacking_is_unknown() -> None:
    assert _reaching("p = f(x)\n*p, q = g(x)\nuse(p)\n") is None


def test_augmented_assignment_is_unknown() -> None:
    assert _reaching("p = f(x)\np += 1\nuse(p)\n") is None


def test_compound_statement_binding_the_name_is_unknown() -> None:
    source = """
    p = f(x)
    if flag:
        p = g(x)
    use(p)
    """
    assert _reaching(source) is None


def test_nested_binding_deep_inside_compound_statement() -> None:
    source = """
    p = f(x)
    for batch in loader:
        with ctx:
            try:
                p = g(batch)
            except KeyError:
                pass
    use(p)
    """
    assert _reaching(source) is None


@pytest.mark.parametrize(
    "binding",
    [
        "for p in items:\n    pass",
        "with open(f) as p:\n    pass",
        "try:\n    pass\nexcept E as p:\n    pass",
        "import p",
        "from m import p",
        "from m import q as p",
        "del p",
        "if (p := g(x)):\n    pass",
        "def p():\n    pass",
        "class p:\n    pass",
    ],
)
def test_other_binding_forms_are_unknown(binding: str) -> None:
    assert _reaching(f"p = f(x)\n{binding}\nuse(p)\n") is None


def test_loop_binding_after_the_use_is_unknown() -> None:
    # The next iteration sees the assignment made after the use.
    source = """
    p = f(x)
    for batch in loader:
        use(p)
        p = g(batch)
    """
    assert _reaching(source) is None


def test_while_loop_binding_is_unknown() -> None:
    source = """
    p = f(x)
    while running:
        use(p)
        p = g(x)
    """
    assert _reaching(source) is None


def test_for_target_is_unknown() -> None:
    assert _reaching("p = f(x)\nfor p in items:\n    use(p)\n") is None


def test_with_target_is_unknown() -> None:
    assert _reaching("p = f(x)\nwith g() as p:\n    use(p)\n") is None


def test_except_handler_after_try_that_binds_is_unknown() -> None:
    source = """
    p = f(x)
    try:
        p = g(x)
    except ValueError:
        use(p)
    """
    assert _reaching(source) is None


def test_comprehension_target_is_unknown() -> None:
    assert _reaching("p = f(x)\nys = [use(p) for p in items]\n") is None


def test_nested_function_assignment_does_not_count() -> None:
    source = """
    p = f(x)
    def helper():
        p = g(x)
    use(p)
    """
    assert _reaching(source) == "f(x)"


def test_nested_function_nonlocal_is_unknown() -> None:
    source = """
    def outer():
        p = f(x)
        def helper():
            nonlocal p
            p = g(x)
        helper()
        use(p)
    """
    assert _reaching(source) is None


def test_attribute_and_subscript_stores_do_not_rebind() -> None:
    assert _reaching("p = f(x)\np.grad = None\np[0] = 1\nuse(p)\n") == "f(x)"


def test_lambda_parameter_is_unknown() -> None:
    assert _reaching("p = f(x)\ng = lambda p: use(p)\n") is None


# -- the richer answer -----------------------------------------------------------------------------


def test_rebinds_reports_names_bound_between() -> None:
    _, path = _parse("p = f(x)\nx = g(x)\nuse(p)\n")
    found = reaching_assignment(path, "p")
    assert found is not None
    assert found.rebinds("x")
    assert not found.rebinds("y")


def test_rebinds_sees_loop_back_edge() -> None:
    source = """
    p = f(x)
    for i in range(3):
        use(p)
        x = g(x)
    """
    _, path = _parse(source)
    found = reaching_assignment(path, "p")
    assert found is not None
    assert found.rebinds("x")
    assert found.rebinds("i")


def test_rebinds_sees_comprehension_targets() -> None:
    _, path = _parse("p = f(x)\nys = [use(p) for x in xs]\n")
    found = reaching_assignment(path, "p")
    assert found is not None
    assert found.rebinds("x")


def test_statement_and_chain_through_path() -> None:
    source = """
    def step(z):
        q = h(z)
        p = f(q)
        use(p)
    """
    module, path = _parse(source)
    first = reaching_assignment(path, "p")
    assert first is not None
    assert isinstance(first.statement, cst.Assign)
    assert module.code_for_node(first.value) == "f(q)"
    second = reaching_assignment(first.path, "q")
    assert second is not None
    assert module.code_for_node(second.value) == "h(z)"
    assert reaching_assignment(second.path, "z") is None  # a parameter


def test_count_name_ignores_attributes_and_keywords() -> None:
    module = cst.parse_module("p = f(x)\ny = obj.p + g(p=1) + p\n")
    assert count_name(module, "p") == 2


def test_enclosing_scope_is_the_function() -> None:
    module, path = _parse("def g(x):\n    p = 1\n    use(p)\n")
    scope = enclosing_scope(path)
    assert isinstance(scope, cst.FunctionDef)
    assert scope.name.value == "g"
    _, top = _parse("use(p)\n")
    assert isinstance(enclosing_scope(top), cst.Module)


def test_binds_does_not_look_inside_nested_scopes() -> None:
    module = cst.parse_module("def h():\n    p = 1\nk = lambda p: p\n")
    assert not binds(module.body[0], "p")
    assert binds(module.body[0], "h")
    assert not binds(module.body[1], "p")


# -- qualified names under local shadowing ----------------------------------------------------------


def _resolved_calls(source: str) -> list[str | None]:
    """What the callee of each ``load``/``torch.load``/``DataParallel`` call resolves to."""
    from torchlint.analysis.facts import TorchFacts
    from torchlint.analysis.walk import walk

    module = cst.parse_module(textwrap.dedent(source))
    facts = TorchFacts(module)
    out: list[str | None] = []

    def visit(node: cst.CSTNode) -> None:
        if isinstance(node, cst.Call):
            out.append(facts.names.resolve(node.func))

    walk(module, visit)
    return out


@pytest.mark.parametrize(
    "body",
    [
        "def f(load):\n    load('x')\n",
        "def f():\n    load = json.load\n    load(fp)\n",
        "def f(loaders):\n    for load in loaders:\n        load('x')\n",
        "def f(torch):\n    torch.load('x')\n",
        "def f():\n    from json import load\n    load(fp)\n",
        "def f():\n    load = 1\n    def g():\n        load('x')\n",
        "def f(loaders):\n    [load('x') for load in loaders]\n",
        "g = lambda load: load('x')\n",
    ],
)
def test_local_bindings_shadow_module_imports(body: str) -> None:
    source = "import json\nimport torch\nfrom torch import load\n" + body
    assert "torch.load" not in _resolved_calls(source)


@pytest.mark.parametrize(
    "body",
    [
        "def f(p):\n    load(p)\n",
        "def f(p):\n    global load\n    load = 1\n    load(p)\n",
        "class C:\n    load = 1\n    def m(self, p):\n        load(p)\n",
        "def f(paths):\n    [load(p) for p in paths]\n",
        "def f(p):\n    import torch\n    torch.load(p)\n",
    ],
)
def test_module_and_local_imports_still_resolve(body: str) -> None:
    source = "from torch import load\n" + body
    assert "torch.load" in _resolved_calls(source)


def test_import_inside_function_resolves_there_only() -> None:
    source = """\
        def main(m):
            from torch.nn import DataParallel
            DataParallel(m)
        DataParallel(m)
        """
    assert _resolved_calls(source) == ["torch.nn.parallel.DataParallel", None]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import torch\n\ndef f(p):\n    return torch.load(p)\n", False),
        ("from torch import load\n\ndef f(load):\n    return load('x')\n", True),
        ("from torch import load\n\ndef f():\n    load = json.load\n", True),
        ("def f(p):\n    import torch\n    return torch.load(p)\n", True),
        ("import torch\nclass A:\n    torch = None\n", True),  # class bodies count (unsure)
        ("import torch\nx = [torch for torch in y]\n", True),
        ("import torch\nf = lambda torch: torch\n", True),
        ("import torch\nexec 'python 2'\n", True),  # does not compile: the walk decides
    ],
)
def test_the_symbol_table_check_before_the_scope_walk(source: str, expected: bool) -> None:
    """CPython's symbol table says when no scope can rebind an import (the walk is skipped)."""
    assert may_rebind(source, ["torch", "load"]) is expected
