"""Which rules run: ``select`` / ``extend-select`` / ``ignore`` with codes, prefixes or names.

TL000 (``syntax-error``) is always on: whatever ``select`` says, a file that does not parse is
reported, unless TL000 is named exactly (code or name) in ``ignore`` or ``per-file-ignores``. A
prefix such as ``TL0`` or ``ALL`` in ``ignore`` leaves it on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from torchlint.diagnostics import SYNTAX_ERROR_CODE
from torchlint.registry import RuleRef, all_rule_refs


class _Named(Protocol):
    """A rule class or record (read-only attributes: records are frozen)."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def preview(self) -> bool: ...


R = TypeVar("R", bound=_Named)


class SelectorError(ValueError):
    """A selector names no rule."""


# Reported whatever the selection; turned off only by an exact selector in ``ignore``.
ALWAYS_ON = frozenset({SYNTAX_ERROR_CODE})


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
    words = [r.code for r in rules] if raw[:1].isalpha() and raw[-1:].isdigit() else []
    close = difflib.get_close_matches(raw.lower(), [r.name for r in rules], n=1, cutoff=0.8)
    close = close or difflib.get_close_matches(raw.upper(), words, n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise SelectorError(
        f"unknown rule selector {raw!r} (not a rule code, code prefix or name{hint})"
    )


def ignored_by(selector: str, rules: Sequence[R]) -> list[R]:
    """The rules an ``ignore`` / ``per-file-ignores`` selector turns off (see ``ALWAYS_ON``)."""
    matched, exact = match_selector(selector, rules)
    return [r for r in matched if exact or r.code not in ALWAYS_ON]


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
    for rule in rules:
        if rule.code in ALWAYS_ON:
            chosen[rule.code] = rule
    for selector in ignore:
        for rule in ignored_by(selector, rules):
            chosen.pop(rule.code, None)
    return sorted(chosen.values(), key=lambda r: r.code)
