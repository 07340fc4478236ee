"""Every rule torchlint knows: the built-in ones and those third-party packages register.

Third-party packages add rules through the ``torchlint.rules`` entry-point group; an entry point
names a Rule subclass or a module holding some (see ``torchlint.plugins``).

Choosing rules, keying the cache and listing rules need only each rule's metadata (code, name,
preview flag, module, summary, category, severity, precision, fix), so those come from index
entries: for the built-in rules ``data/rule_index.json`` (written by ``python -m
torchlint.devtools rule-index``; a test keeps it equal to the classes), for plug-ins their index
in the user's cache folder (``torchlint.plugins``). A run whose files are all in the cache then
never imports LibCST, a rule module or a plug-in, which is about half of a warm run's time.
``RuleRef.load()`` gives the class when a file must be linted.
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
from torchlint.plugins import ENTRY_POINT_GROUP, PluginDistribution, plugin_distributions

if TYPE_CHECKING:
    from torchlint.rule import Rule

__all__ = [
    "ENTRY_POINT_GROUP",
    "RULE_INDEX",
    "RuleInfo",
    "RuleRef",
    "all_rule_refs",
    "all_rules",
    "find_rule",
    "load_rules",
    "rule_catalog",
    "rule_index",
]

RULE_INDEX = Path(__file__).resolve().parent / "data" / "rule_index.json"

IndexEntry = dict[str, object]


@dataclass(frozen=True)
class RuleRef:
    """What selection and the cache need to know of a rule, without importing it."""

    code: str
    name: str
    preview: bool
    module: str
    qualname: str
    # The plug-in distribution's fingerprint (part of the cache key); "" for a built-in rule,
    # which the cache's fingerprint of torchlint's own files covers.
    origin: str = ""
    loaded: type[Rule] | None = field(default=None, compare=False, repr=False)

    def load(self) -> type[Rule]:
        if self.loaded is not None:
            return self.loaded
        found: object = importlib.import_module(self.module)
        for part in self.qualname.split("."):
            found = getattr(found, part)
        return found  # type: ignore[return-value]

    @classmethod
    def of(cls, rule: type[Rule], origin: str = "") -> RuleRef:
        return cls(
            rule.code, rule.name, rule.preview, rule.__module__, rule.__qualname__, origin, rule
        )


@dataclass(frozen=True)
class RuleInfo:
    """A rule's metadata as the ``Rule`` class holds it, read from an index when there is one."""

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


def _index_entry(rule: type[Rule]) -> IndexEntry:
    return {
        "code": rule.code,
        "name": rule.name,
        "preview": rule.preview,
        "module": rule.__module__,
        "qualname": rule.__qualname__,
        # What `torchlint rules` lists, so that listing imports no rule (rule_catalog).
        "summary": rule.summary,
        "category": rule.category.value,
        "severity": rule.severity.value,
        "precision": rule.precision.value,
        "fix": rule.fix_applicability.value if rule.fix_applicability is not None else None,
    }


def _ref_of_entry(entry: IndexEntry, origin: str) -> RuleRef:
    """Raises KeyError or TypeError for an entry that lacks a field or has one of another type."""
    code, name, module, qualname = (entry[k] for k in ("code", "name", "module", "qualname"))
    if not all(isinstance(v, str) for v in (code, name, module, qualname)):
        raise TypeError("an index entry's code, name, module and qualname are strings")
    return RuleRef(str(code), str(name), bool(entry["preview"]), str(module), str(qualname), origin)


def _info_of_entry(ref: RuleRef, entry: IndexEntry) -> RuleInfo:
    """Raises KeyError or ValueError for an entry that lacks a field or has an unknown value."""
    fix = entry["fix"]
    return RuleInfo(
        ref.code,
        ref.name,
        str(entry["summary"]),
        Category(entry["category"]),
        Severity(entry["severity"]),
        Precision(entry["precision"]),
        Applicability(fix) if fix is not None else None,
        ref.preview,
    )


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


def rule_index() -> list[IndexEntry]:
    """The content of ``data/rule_index.json``, computed from the built-in rule classes."""
    return [_index_entry(r) for r in sorted(_builtin_rules(), key=lambda r: r.code)]


def _builtin_entries() -> list[tuple[RuleRef, IndexEntry]]:
    """The built-in rules from the index; from the classes if the index is missing or broken."""
    try:
        entries = json.loads(RULE_INDEX.read_text(encoding="utf-8"))
        return [(_ref_of_entry(e, ""), e) for e in entries]
    except (OSError, ValueError, KeyError, TypeError):
        return [(RuleRef.of(rule), _index_entry(rule)) for rule in _builtin_rules()]


def _load_plugin(dist: PluginDistribution) -> tuple[list[type[Rule]], bool]:
    """The rule classes of ``dist``'s entry points, and whether every entry point loaded."""
    from torchlint.rule import Rule

    found: list[type[Rule]] = []
    complete = True
    for ep in dist.entry_points:
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plug-in must not take the linter down
            print(
                f"torchlint: warning: cannot load rule plug-in {ep.name!r}: {exc}", file=sys.stderr
            )
            complete = False
            continue
        if inspect.isclass(loaded) and issubclass(loaded, Rule):
            found.append(loaded)
        elif inspect.ismodule(loaded):
            found.extend(_rules_in(loaded))
    return found, complete


def _plugin_entries(dist: PluginDistribution) -> list[tuple[RuleRef, IndexEntry]]:
    """``dist``'s rules from its index when it matches the distribution, else by importing it
    (and recording the index for the next run, when every entry point loaded)."""
    entries = dist.read_index()
    if entries is not None:
        try:
            return [(_ref_of_entry(e, dist.fingerprint), e) for e in entries]
        except (KeyError, TypeError):
            pass  # a damaged index: rebuilt below
    rules, complete = _load_plugin(dist)
    found = [(RuleRef.of(r, dist.fingerprint), _index_entry(r)) for r in rules]
    if complete:
        dist.write_index([entry for _, entry in found])
    return found


@lru_cache(maxsize=1)
def _registered() -> tuple[tuple[RuleRef, IndexEntry], ...]:
    """Every rule with its index entry, in code order; the first of two with one code or name."""
    candidates = _builtin_entries()
    for dist in plugin_distributions():
        candidates.extend(_plugin_entries(dist))
    refs: dict[str, tuple[RuleRef, IndexEntry]] = {}
    names: dict[str, str] = {}
    for ref, entry in candidates:
        if ref.code in refs and refs[ref.code][0] != ref:
            print(
                f"torchlint: warning: rule code {ref.code} registered twice; keeping the first",
                file=sys.stderr,
            )
            continue
        if ref.name in names and names[ref.name] != ref.code:
            print(
                f"torchlint: warning: rule name {ref.name} registered twice; keeping the first",
                file=sys.stderr,
            )
            continue
        refs[ref.code] = (ref, entry)
        names[ref.name] = ref.code
    return tuple(sorted(refs.values(), key=lambda item: item[0].code))


def all_rule_refs() -> tuple[RuleRef, ...]:
    """Every rule, as a record, none of them imported."""
    return tuple(ref for ref, _ in _registered())


def rule_catalog() -> list[RuleInfo]:
    """Every rule's metadata, in code order, without importing a rule (``torchlint rules``):
    from the indexes, or from the class when its entry lacks a field."""
    out: list[RuleInfo] = []
    for ref, entry in _registered():
        try:
            out.append(_info_of_entry(ref, entry))
        except (KeyError, ValueError, TypeError):
            out.append(RuleInfo.of(ref.load()))
    return out


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
