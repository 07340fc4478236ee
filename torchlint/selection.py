"""Which rules run: ``select`` / ``extend-select`` / ``ignore`` with codes, prefixes or names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from torchlint.registry import RuleRef, all_rule_refs


class _Named(Protocol):
    code: str
    name: str
    preview: bool


R = TypeVar("R", bound=_Named)


class SelectorError(ValueError):
    """A selector names no rule."""


def match_selector(selector: str, rules: Sequence[R]) -> tuple[list[R], bool]:
    """The rules a selector names, and whether it names them exactly (code or name, not prefix)."""
    raw = selector.strip()
    if not raw:
        raise SelectorError("empty rule selector")
    if raw.upper() == "ALL":
        return list(rules), False
    exact = [r for r in rules if r.code.upper() == raw.upper() or r.name == raw.lower()]
    if exact:
        return exact, True
    prefixed = [r for r in rules if r.code.upper().startswith(raw.upper())]
    if prefixed and raw[:1].isalpha():
        return prefixed, False
    raise SelectorError(f"unknown rule selector {raw!r} (not a rule code, code prefix or name)")


def validate_selectors(selectors: Iterable[str]) -> None:
    rules = all_rule_refs()
    for selector in selectors:
        match_selector(selector, rules)


def select_rules(
    select: Sequence[str] | None,
    extend_select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    preview: bool = False,
) -> list[RuleRef]:
    """Apply ruff's selection semantics. Preview rules need ``preview`` or an exact selector."""
    rules = all_rule_refs()
    chosen: dict[str, RuleRef] = {}
    base = select if select is not None else None
    if base is None:
        for rule in rules:
            if not rule.preview or preview:
                chosen[rule.code] = rule
    for selector in [*(base or ()), *extend_select]:
        matched, exact = match_selector(selector, rules)
        for rule in matched:
            if rule.preview and not (preview or exact):
                continue
            chosen[rule.code] = rule
    for selector in ignore:
        matched, _ = match_selector(selector, rules)
        for rule in matched:
            chosen.pop(rule.code, None)
    return sorted(chosen.values(), key=lambda r: r.code)
