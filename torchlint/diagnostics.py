"""The values every part of torchlint passes around: findings, their fixes, and their kinds."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Applicability(str, enum.Enum):
    """How far a fix may be trusted (ruff's terms)."""

    SAFE = "safe"  # behaviour preserved: applied by --fix
    UNSAFE = "unsafe"  # behaviour changes: applied only with --unsafe-fixes
    DISPLAY_ONLY = "display-only"  # a suggestion, never applied


class Category(str, enum.Enum):
    CORRECTNESS = "correctness"
    PERFORMANCE = "performance"
    SECURITY = "security"
    DEPRECATED_API = "deprecated-api"
    REPRODUCIBILITY = "reproducibility"
    DEVICE = "device-and-distributed"
    INTERNAL = "internal"


class Precision(str, enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    HEURISTIC = "heuristic"


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file: 1-based line, 0-based column counted in characters."""

    line: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace the text between ``start`` and ``end`` with ``content``."""

    start: Position
    end: Position
    content: str


@dataclass(frozen=True)
class Fix:
    title: str
    edits: tuple[Edit, ...]
    applicability: Applicability

    def is_applied_with(self, unsafe: bool) -> bool:
        if self.applicability is Applicability.SAFE:
            return True
        return unsafe and self.applicability is Applicability.UNSAFE


@dataclass(frozen=True)
class Diagnostic:
    code: str
    name: str
    message: str
    severity: Severity
    path: str
    start: Position
    end: Position
    fix: Fix | None = None
    category: str = ""
    suggestion: str | None = field(default=None, compare=False)

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.start.line, self.start.column, self.code)
