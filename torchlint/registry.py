"""Every rule torchlint knows: the built-in ones and those third-party packages register.

Third-party packages add rules through the ``torchlint.rules`` entry-point group; an entry point
names a Rule subclass or a module holding some.

Choosing rules and keying the cache need only each rule's code, name, preview flag and module,
so those come from ``RuleRef`` records: for the built-in rules, read from ``data/rule_index.json``
(written by ``python -m torchlint.devtools rule-index``; a test keeps it equal to the classes).
A run whose files are all in the cache then never imports LibCST or the rule modules, which is
about half of a warm run's time. ``RuleRef.load()`` gives the class when a file must be linted.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from torchlint.diagnostics import Applicability, Category, Precision, Severity

if TYPE_CHECKING:
    from torchlint.rule import Rule

ENTRY_POINT_GROUP = "torchlint.rules"
RULE_INDEX = Path(__file__).resolve().parent / "data" / "rule_index.json"


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class RuleRef:
    """What selection and the cache need to know of a rule, without importing it."""

    code: str
    name: str
    preview: bool
    module: str
    qualname: str
    loaded: type[Rule] | None = field(default=None, compare=False, repr=False)

    def load(self) -> type[Rule]:
        if self.loaded is not None:
            return self.loaded
        return getattr(importlib.import_module(self.module), self.qualname)  # type: ignore[no-any-return]

    @classmethod
    def of(cls, rule: type[Rule]) -> RuleRef:
        return cls(rule.code, rule.name, rule.preview, rule.__module__, rule.__qualname__, rule)


def _rules_in(module: ModuleType) -> list[type[Rule]]:
    from torchlint.rule import Rule

    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Rule) and obj is not Rule and "code" in obj.__dict__
    ]


def _builtin_rules() -> list[type[Rule]]:
    import torchlint.rules as package

    found: list[type[Rule]] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.extend(r for r in _rules_in(module) if r.__module__ == module.__name__)
    return found


def _plugin_rules() -> list[type[Rule]]:
    from importlib.metadata import entry_points

    found: list[type[Rule]] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plug-in must not take the linter down
            print(
                f"torchlint: warning: cannot load rule plug-in {ep.name!r}: {exc}", file=sys.stderr
            )
            continue
        if inspect.isclass(loaded) and _is_rule_class(loaded):
            found.append(loaded)
        elif inspect.ismodule(loaded):
            found.extend(_rules_in(loaded))
    return found


def _is_rule_class(obj: type) -> bool:
    from torchlint.rule import Rule

    return issubclass(obj, Rule)


def _builtin_refs() -> list[RuleRef]:
    """The built-in rules from the index; from the classes if the index is missing or broken."""
    try:
        entries = json.loads(RULE_INDEX.read_text(encoding="utf-8"))
        return [
            RuleRef(
                e["code"],
                e["name"],
                bool(e["preview"]),
                e["module"],
                e["qualname"],
            )
            for e in entries
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return [RuleRef.of(rule) for rule in _builtin_rules()]


def rule_index() -> list[dict[str, object]]:
    """The content of ``data/rule_index.json``, computed from the built-in rule classes."""
    return [
        {
            "code": r.code,
            "name": r.name,
            "preview": r.preview,
            "module": r.__module__,
            "qualname": r.__qualname__,
            # What `torchlint rules` lists, so that listing imports no rule (rule_catalog).
            "summary": r.summary,
            "category": r.category.value,
            "severity": r.severity.value,
            "precision": r.precision.value,
            "fix": r.fix_applicability.value if r.fix_applicability is not None else None,
        }
        for r in sorted(_builtin_rules(), key=lambda r: r.code)
    ]


@dataclass(frozen=True)
class RuleInfo:
    """A rule's metadata as the ``Rule`` class holds it, read from the index when built in."""

    code: str
    name: str
    summary: str
    category: Category
    severity: Severity
    precision: Precision
    fix_applicability: Applicability | None
    preview: bool

    @classmethod
    def of(cls, rule: type[Rule]) -> RuleInfo:
        return cls(
            rule.code,
            rule.name,
            rule.summary,
            rule.category,
            rule.severity,
            rule.precision,
            rule.fix_applicability,
            rule.preview,
        )


def rule_catalog() -> list[RuleInfo]:
    """Every rule's metadata, in code order, without importing the built-in rules (``torchlint
    rules``): from the index, or from the classes when the index lacks a field."""
    try:
        entries = {e["code"]: e for e in json.loads(RULE_INDEX.read_text(encoding="utf-8"))}
    except (OSError, ValueError, KeyError, TypeError):
        entries = {}
    out: list[RuleInfo] = []
    for ref in all_rule_refs():
        entry = entries.get(ref.code)
        try:
            if entry is None or entry["module"] != ref.module:
                raise KeyError(ref.code)  # a plug-in, or a stale index: ask the class
            fix = entry["fix"]
            out.append(
                RuleInfo(
                    ref.code,
                    ref.name,
                    entry["summary"],
                    Category(entry["category"]),
                    Severity(entry["severity"]),
                    Precision(entry["precision"]),
                    Applicability(fix) if fix is not None else None,
                    ref.preview,
                )
            )
        except (KeyError, ValueError, TypeError):
            out.append(RuleInfo.of(ref.load()))
    return out


@lru_cache(maxsize=1)
def all_rule_refs() -> tuple[RuleRef, ...]:
    """Every rule, as a record: built-in ones from the index, plug-ins loaded."""
    refs: dict[str, RuleRef] = {}
    names: dict[str, str] = {}
    for rule in _builtin_refs() + [RuleRef.of(r) for r in _plugin_rules()]:
        if rule.code in refs and refs[rule.code] != rule:
            print(
                f"torchlint: warning: rule code {rule.code} registered twice; keeping the first",
                file=sys.stderr,
            )
            continue
        if rule.name in names and names[rule.name] != rule.code:
            print(
                f"torchlint: warning: rule name {rule.name} registered twice; keeping the first",
                file=sys.stderr,
            )
            continue
        refs[rule.code] = rule
        names[rule.name] = rule.code
    return tuple(sorted(refs.values(), key=lambda r: r.code))


def load_rules(rules: Sequence[RuleRef | type[Rule]]) -> list[type[Rule]]:
    """The classes of ``rules`` (records or classes already)."""
    return [r.load() if isinstance(r, RuleRef) else r for r in rules]


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    return tuple(ref.load() for ref in all_rule_refs())


def find_rule(code_or_name: str) -> type[Rule] | None:
    wanted = code_or_name.strip()
    for rule in all_rule_refs():
        if rule.code.upper() == wanted.upper() or rule.name == wanted.lower():
            return rule.load()
    return None
