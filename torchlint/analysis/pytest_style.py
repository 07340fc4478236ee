"""TEST CODE: where a rule's advice meant for training code does not apply.

A file is test code when the ``test-code`` setting matches it (``FileContext.test_code``: tests/,
``test_*.py``, conftest.py by default). Inside any other file, a function or class that pytest
would collect by its default names (``test*`` functions, ``Test*`` classes) is test code too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from torchlint.context import FileContext


def is_test_function(name: str) -> bool:
    """A function name pytest collects as a test (its default ``python_functions = test*``)."""
    return name.startswith("test")


def is_test_routine(name: str) -> bool:
    """A test, or a helper tests share (``_test_lora``, ``TestHelper``): a name starting with
    ``test`` once leading underscores and case are set aside. Wider than :func:`is_test_function`,
    for test code, where such helpers run the tests' own checks."""
    return name.lower().lstrip("_").startswith("test")


def is_test_class(name: str) -> bool:
    """A class name pytest collects tests from (its default ``python_classes = Test*``)."""
    return name.startswith("Test")


def in_test(context: FileContext) -> bool:
    """Whether the node being visited is test code: in a test-code file, or inside a test
    function or test class."""
    if context.test_code:
        return True
    for ancestor in context.ancestors():
        if isinstance(ancestor, cst.FunctionDef) and is_test_function(ancestor.name.value):
            return True
        if isinstance(ancestor, cst.ClassDef) and is_test_class(ancestor.name.value):
            return True
    return False
