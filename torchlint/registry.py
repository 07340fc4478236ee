"""Every rule torchlint knows: the built-in ones and those third-party packages register.

Third-party packages add rules through the ``torchlint.rules`` entry-point group; an entry point
names a Rule subclass or a module holding some.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from functools import lru_cache
from importlib.metadata import entry_points
from types import ModuleType

from torchlint.rule import Rule

ENTRY_POINT_GROUP = "torchlint.rules"


class RegistryError(Exception):
    pass


def _rules_in(module: ModuleType) -> list[type[Rule]]:
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
    found: list[type[Rule]] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plug-in must not take the linter down
            print(
                f"torchlint: warning: cannot load rule plug-in {ep.name!r}: {exc}", file=sys.stderr
            )
            continue
        if inspect.isclass(loaded) and issubclass(loaded, Rule):
            found.append(loaded)
        elif inspect.ismodule(loaded):
            found.extend(_rules_in(loaded))
    return found


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    rules: dict[str, type[Rule]] = {}
    names: dict[str, str] = {}
    for rule in _builtin_rules() + _plugin_rules():
        if rule.code in rules and rules[rule.code] is not rule:
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
        rules[rule.code] = rule
        names[rule.name] = rule.code
    return tuple(sorted(rules.values(), key=lambda r: r.code))


def find_rule(code_or_name: str) -> type[Rule] | None:
    wanted = code_or_name.strip()
    for rule in all_rules():
        if rule.code.upper() == wanted.upper() or rule.name == wanted.lower():
            return rule
    return None
