"""The values every part of torchlint passes around: findings, their fixes and kinds, and the
results of linting or fixing a text, a file and a run (what reporters, the LSP and the runner share).
"""

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
    # In a notebook: the cell (1-based, every cell counted) whose lines ``start``/``end`` count.
    cell: int | None = None

    @property
    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.start.line, self.start.column, self.code)


# The finding of a text that cannot be parsed or read as Python; the engine reports it without any
# rule (its rule record, torchlint/rules/syntax_error.py, lets users name it).
SYNTAX_ERROR_CODE = "TL000"
SYNTAX_ERROR_NAME = "syntax-error"


def syntax_error(path: str, message: str, line: int = 1, column: int = 0) -> Diagnostic:
    """A TL000 finding at ``line``/``column``."""
    return Diagnostic(
        code=SYNTAX_ERROR_CODE,
        name=SYNTAX_ERROR_NAME,
        message=message,
        severity=Severity.ERROR,
        path=path,
        start=Position(line, column),
        end=Position(line, column),
        category=Category.CORRECTNESS.value,
    )


@dataclass(frozen=True)
class InternalError:
    """A rule (or the engine) that failed on a file: a torchlint bug, not a finding."""

    path: str
    rule: str
    message: str


@dataclass
class LintOutcome:
    """What linting one text found."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    internal_errors: list[InternalError] = field(default_factory=list)
    parsed: bool = True


@dataclass
class FixPass:
    """One lint of the fix loop: the text it read, what it found, the fixes applied from it."""

    source: str
    lint: LintOutcome
    applied: list[Diagnostic] = field(default_factory=list)


@dataclass
class FixOutcome:
    """What fixing one text did, and what is left in the fixed text."""

    source: str
    applied: list[Diagnostic] = field(default_factory=list)
    remaining: LintOutcome = field(default_factory=LintOutcome)
    converged: bool = True
    rejected: list[Diagnostic] = field(default_factory=list)  # fixes dropped: output did not parse
    # Every lint the loop ran, in order, with the fixes it applied from it: the record of how the
    # fixed text came about (the property tests check every pass, not only the end result).
    passes: list[FixPass] = field(default_factory=list)


@dataclass
class FileResult:
    """One file (or stdin, or an editor's document) linted or fixed."""

    path: str  # as shown to the user
    diagnostics: list[Diagnostic] = field(default_factory=list)
    internal_errors: list[InternalError] = field(default_factory=list)
    error: str | None = None  # could not be read or written
    warnings: list[str] = field(default_factory=list)
    applied: list[Diagnostic] = field(default_factory=list)  # fixes applied (or that would be)
    original: str | None = None
    fixed: str | None = None  # set when fixing changed the text


@dataclass
class RunResult:
    """Every file of one run, and the problems of the run itself."""

    files: list[FileResult] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # path-level problems
    warnings: list[str] = field(default_factory=list)  # about the run (its cache), not a file

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.diagnostics]

    @property
    def internal_errors(self) -> list[InternalError]:
        return [e for f in self.files for e in f.internal_errors]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.internal_errors or any(f.error for f in self.files))
