"""TL102 cuda-empty-cache.

``torch.cuda.empty_cache()`` hands the caching allocator's free blocks back to the driver. Inside a
loop that only means the next iteration allocates them again with slow ``cudaMalloc`` calls (and a
device sync); it frees no memory that live tensors hold.

Real code calls it in loops on purpose in two cases, which are not reported: benchmarks and
memory measurements that isolate one run from the next, and code that hands the memory to
another allocator (CuPy, TensorRT...) or fights fragmentation and says so in a comment.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.analysis.timing import reads_clock
from torchlint.analysis.training_loops import enclosing_loops
from torchlint.analysis.walk import SCOPES, Walker
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, RemoveStatement
from torchlint.rule import Rule

_EMPTY_CACHE = "torch.cuda.empty_cache"
# Reading these measures memory: emptying the cache first isolates one measured run from the last.
_MEMORY_STATS = frozenset(
    {
        "memory_allocated",
        "max_memory_allocated",
        "memory_reserved",
        "max_memory_reserved",
        "reset_peak_memory_stats",
        "reset_max_memory_allocated",
        "memory_stats",
        "mem_get_info",
    }
)
_BENCHMARK_NAME = re.compile(r"bench|profil|measure|timeit", re.IGNORECASE)
# A comment that gives a reason for releasing the cache: another allocator or process needs the
# memory, or the peak / fragmentation is the point.
_REASON = re.compile(
    r"\b(cupy|tensorrt|trt|jax|tensorflow|onnx\w*|vllm|other process|another process|peak|"
    r"fragment\w*|oom|out of memory)\b",
    re.IGNORECASE,
)


class _OomMention(Walker):
    """Finds ``"out of memory" in str(e)`` and ``OutOfMemoryError`` in a test or handler."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if "out of memory" in node.value.lower():
            self.found = True

    def visit_FormattedStringText(self, node: cst.FormattedStringText) -> None:
        if "out of memory" in node.value.lower():
            self.found = True

    def visit_Name(self, node: cst.Name) -> None:
        if node.value.endswith("OutOfMemoryError"):
            self.found = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value.endswith("OutOfMemoryError"):
            self.found = True


_EXITS = (cst.Break, cst.Return, cst.Raise)


def _leaves_loop_after(path: list[tuple[cst.CSTNode, cst.CSTNode]], loop: cst.CSTNode) -> bool:
    """A ``break`` / ``return`` / ``raise`` follows the call in a block between it and ``loop``."""
    for ancestor, child in path:
        if ancestor is loop:
            return False
        if isinstance(ancestor, cst.IndentedBlock):
            body = list(ancestor.body)
            position = next((i for i, s in enumerate(body) if s is child), None)
            if position is None:
                continue
            for statement in body[position + 1 :]:
                if isinstance(statement, cst.SimpleStatementLine) and any(
                    isinstance(small, _EXITS) for small in statement.body
                ):
                    return True
    return False


def _mentions_oom(node: cst.CSTNode | None) -> bool:
    if node is None:
        return False
    finder = _OomMention()
    finder.walk(node)
    return finder.found


class _Measures(Walker):
    """Finds memory statistics reads and calls named like benchmarks in a loop body."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted_name(node.func)
        if name is None:
            return
        last = name.rsplit(".", 1)[-1]
        if last in _MEMORY_STATS or _BENCHMARK_NAME.search(last):
            self.found = True


def _comments(statement: cst.CSTNode) -> list[str]:
    found = [line.comment.value for line in getattr(statement, "leading_lines", ()) if line.comment]
    trailing = getattr(statement, "trailing_whitespace", None)
    if trailing is not None and trailing.comment is not None:
        found.append(trailing.comment.value)
    return found


class CudaEmptyCache(Rule):
    code = "TL102"
    name = "cuda-empty-cache"
    summary = (
        "`torch.cuda.empty_cache()` inside a loop returns cached memory that the next iteration "
        "must allocate again"
    )
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("empty_cache",)
    default_options = {"only-in-loops": True}
    report_in_tests = False  # tests free memory between cases on purpose

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != _EMPTY_CACHE:
            return
        path = self.context.path_up()
        if self._in_oom_handler(path):
            return
        loops = enclosing_loops(path, self.facts)
        in_loop = bool(loops)
        if in_loop and _leaves_loop_after(path, loops[0].loop):
            return  # ``empty_cache(); break``: once, on the way out of the loop
        if in_loop and self._isolates_measurements(loops[0].loop):
            return  # a benchmark frees memory between runs so that one does not skew the next
        if self._explained(path):
            return
        if not in_loop and self.options.get("only-in-loops", True):
            return
        spelled = self.context.code(node.func)
        if in_loop:
            message = (
                f"`{spelled}()` inside a loop: the memory it releases is allocated again on the "
                "next iteration, through slow `cudaMalloc` calls that synchronize the device"
            )
        else:
            message = (
                f"`{spelled}()` frees no memory held by tensors; it only returns the allocator's "
                "cache to the driver, and later allocations pay to get it back"
            )
        self.report(node, message, fix=self._fix(path, node))

    def _isolates_measurements(self, loop: cst.For | cst.While) -> bool:
        if self.facts.loop(loop).is_training_loop:
            return False  # timing or memory logging in a training loop does not excuse it
        where = PurePath(self.context.path)
        if _BENCHMARK_NAME.search(where.stem) or _BENCHMARK_NAME.search(where.parent.name):
            return True  # benchmarks/run_all.py, profile_memory.py
        function = self.context.enclosing(cst.FunctionDef)
        if function is not None and _BENCHMARK_NAME.search(function.name.value):
            return True
        if reads_clock(loop.body, self.facts.names):
            return True
        finder = _Measures()
        finder.walk(loop.body)
        return finder.found

    def _explained(self, path: list[tuple[cst.CSTNode, cst.CSTNode]]) -> bool:
        """A comment on the call or on the two statements before it gives a reason."""
        for ancestor, child in path:
            if isinstance(ancestor, (cst.IndentedBlock, cst.Module)):
                body = list(ancestor.body)
                position = next((i for i, s in enumerate(body) if s is child), None)
                if position is None:
                    return False
                texts = [c for s in body[max(0, position - 2) : position + 1] for c in _comments(s)]
                return any(_REASON.search(text) for text in texts)
            if isinstance(ancestor, SCOPES):
                return False
        return False

    def _in_oom_handler(self, path: list[tuple[cst.CSTNode, cst.CSTNode]]) -> bool:
        for ancestor, child in path:
            if isinstance(ancestor, SCOPES):
                return False
            if isinstance(ancestor, cst.If) and child is not ancestor.test:
                if _mentions_oom(ancestor.test):
                    return True
            elif isinstance(ancestor, cst.ExceptHandler) and child is ancestor.body:
                if self._is_oom_type(ancestor.type) or _mentions_oom(ancestor.body):
                    return True
            elif isinstance(ancestor, cst.ExceptStarHandler) and child is ancestor.body:
                if self._is_oom_type(ancestor.type) or _mentions_oom(ancestor.body):
                    return True
        return False

    def _is_oom_type(self, expr: cst.BaseExpression | None) -> bool:
        if expr is None:
            return False
        candidates = expr.elements if isinstance(expr, cst.Tuple) else ()
        for item in [e.value for e in candidates] or [expr]:
            name = self.context.qualified_name(item) or dotted_name(item) or ""
            if name.endswith("OutOfMemoryError"):
                return True
        return False

    def _fix(self, path: list[tuple[cst.CSTNode, cst.CSTNode]], call: cst.Call) -> FixPlan | None:
        # Only a statement that is exactly the call, alone on its line.
        if len(path) < 3:
            return None
        (expr, _), (line, _), (block, _) = path[0], path[1], path[2]
        if not (
            isinstance(expr, cst.Expr)
            and isinstance(line, cst.SimpleStatementLine)
            and len(line.body) == 1
            and isinstance(block, cst.IndentedBlock | cst.Module)
        ):
            return None
        alone = isinstance(block, cst.IndentedBlock) and len(block.body) == 1
        return FixPlan(
            "Remove the `empty_cache()` call",
            Applicability.UNSAFE,
            (RemoveStatement(line, replace_with_pass=alone),),
        )
