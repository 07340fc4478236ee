"""Where a built-in rule lives: one name, one place for each of its parts.

A rule ``TL201 torch-load-without-weights-only`` is
- the module ``torchlint/rules/torch_load_without_weights_only.py`` (its name, ``_`` for ``-``);
- the page ``rules/TL201.md``;
- the cases ``fixtures/cases/TL201/*.py`` (``TL201+TL900/`` for cases about two rules).

The maintainer commands, the documentation code and the tests all ask this module, so the
convention is written down once. Paths are under a source tree's root (a checkout), by default the
one this package was imported from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent

CODE = re.compile(r"TL\d{3}")
# kebab-case: lowercase words of letters and digits, each starting with a letter.
NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*")

RULES_PACKAGE = "torchlint.rules"


def is_code(code: str) -> bool:
    return CODE.fullmatch(code) is not None


def is_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def module_name(name: str) -> str:
    """``torch_load_without_weights_only`` for ``torch-load-without-weights-only``."""
    return name.replace("-", "_")


def qualified_module(name: str) -> str:
    """The importable module of the rule called ``name``."""
    return f"{RULES_PACKAGE}.{module_name(name)}"


def class_name(name: str) -> str:
    """``TorchLoadWithoutWeightsOnly``: the CamelCase spelling a scaffolded rule class gets."""
    return "".join(word.capitalize() for word in name.split("-"))


@dataclass(frozen=True)
class Layout:
    """The parts of the rules under one source tree."""

    root: Path = SOURCE_ROOT

    @property
    def rules_package(self) -> Path:
        return self.root / "torchlint" / "rules"

    @property
    def pages(self) -> Path:
        return self.root / "rules"

    @property
    def cases(self) -> Path:
        return self.root / "fixtures" / "cases"

    @property
    def rule_index(self) -> Path:
        return self.root / "torchlint" / "data" / "rule_index.json"

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    def module_path(self, name: str) -> Path:
        return self.rules_package / f"{module_name(name)}.py"

    def page_path(self, code: str) -> Path:
        return self.pages / f"{code}.md"

    def cases_dir(self, code: str) -> Path:
        """The folder of the cases about ``code`` alone."""
        return self.cases / code

    def case_dirs(self, code: str) -> list[Path]:
        """Every folder holding cases about ``code``: its own and the shared ones (``A+B``)."""
        if not self.cases.is_dir():
            return []
        return sorted(d for d in self.cases.iterdir() if d.is_dir() and code in d.name.split("+"))


SOURCE_TREE = Layout()
