"""``[tool.torchlint]`` discovery, validation and merging into :class:`Settings`.

The nearest ``pyproject.toml`` holding a ``[tool.torchlint]`` table (or a ``torchlint.toml`` /
``.torchlint.toml``) above a file configures it. Unknown keys, rule codes and options are errors that
name the key and the file: a typo in a linter's config should never silently disable a rule.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pathspec

from torchlint.registry import RuleRef, find_rule
from torchlint.selection import SelectorError, ignored_by, match_selector, select_rules

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CONFIG_FILES = ("torchlint.toml", ".torchlint.toml", "pyproject.toml")

# ruff's default excludes, plus caches and packaging leftovers that hold no project code.
DEFAULT_EXCLUDE = (
    "*.egg-info",
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pyenv",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".torchlint_cache",
    ".venv",
    ".vscode",
    "venv",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
)

# Test code: rules whose advice does not fit tests (``Rule.report_in_tests = False``) skip these
# files. gitignore syntax, matched against the path relative to the project root.
DEFAULT_TEST_CODE = (
    "test_*.py",
    "*_test.py",
    "*_tests.py",
    "conftest.py",
    "test/",
    "tests/",
    "testing/",
)

KNOWN_KEYS = {
    "select": "list of rule codes, prefixes or names",
    "extend-select": "list of rule codes, prefixes or names",
    "ignore": "list of rule codes, prefixes or names",
    "per-file-ignores": "table of glob pattern -> list of rules",
    "exclude": "list of path patterns",
    "extend-exclude": "list of path patterns",
    "extend-include": "list of path patterns",
    "test-code": "list of path patterns (gitignore syntax) that hold test code",
    "preview": "boolean",
    "unsafe-fixes": "boolean",
    "torch-version": 'string such as "2.1"',
    "fix-follow-symlinks": "boolean: may --fix write through links to files outside the paths given",
    "rules": "table of rule name -> options",
    "src": "list of folders (relative to the project root) that hold the project's top-level "
    "modules and packages",
}


class ConfigError(Exception):
    """Invalid configuration; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    root: Path = field(default_factory=Path.cwd)
    config_file: Path | None = None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    # More file patterns a walk lints (.py, .pyi and .ipynb always are); see docs/notebooks.md.
    extend_include: tuple[str, ...] = ()
    preview: bool = False
    unsafe_fixes: bool | None = None
    torch_version: tuple[int, int] | None = None
    rule_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    test_code: tuple[str, ...] = DEFAULT_TEST_CODE
    fix_follow_symlinks: bool | None = None  # None: yes, unless CI=true (see follows_symlinks)
    # Folders holding the project's top-level modules, like ruff's ``src``: imports of the
    # project's own modules resolve from them. None: the project root and its ``src/``.
    src: tuple[str, ...] | None = None

    @property
    def src_roots(self) -> tuple[Path, ...]:
        """The ``src`` folders as paths (relative entries are relative to the project root)."""
        entries = self.src if self.src is not None else (".", "src")
        return tuple(self.root / entry for entry in entries)

    @property
    def follows_symlinks(self) -> bool:
        """Whether --fix may write a file that a link leads to outside the paths given. Off by
        default under CI=true: a bot fixing an untrusted pull request must not be led to
        rewrite files elsewhere on its machine."""
        if self.fix_follow_symlinks is not None:
            return self.fix_follow_symlinks
        return os.environ.get("CI", "").strip().lower() not in ("true", "1", "yes")

    @cached_property
    def _test_spec(self) -> pathspec.GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines(self.test_code)

    def is_test_code(self, path: Path | str) -> bool:
        """Whether ``path`` matches the ``test-code`` patterns (relative to the project root)."""
        return bool(self.test_code) and self._test_spec.match_file(_relative(Path(path), self.root))

    @cached_property
    def rules(self) -> tuple[RuleRef, ...]:
        return tuple(select_rules(self.select, self.extend_select, self.ignore, self.preview))

    @cached_property
    def options(self) -> dict[str, dict[str, Any]]:
        return {name: dict(values) for name, values in self.rule_options}

    def rules_for(self, path: Path | str) -> tuple[RuleRef, ...]:
        """The enabled rules minus what ``per-file-ignores`` turns off for ``path``."""
        if not self.per_file_ignores:
            return self.rules
        relative = _relative(Path(path), self.root)
        ignored: set[str] = set()
        for pattern, selectors in self.per_file_ignores:
            if _glob_match(relative, pattern):
                for selector in selectors:
                    try:
                        ignored.update(r.code for r in ignored_by(selector, self.rules))
                    except SelectorError:
                        pass  # valid (checked when loaded) but names no enabled rule
        if not ignored:
            return self.rules
        return tuple(r for r in self.rules if r.code not in ignored)

    @property
    def all_excludes(self) -> tuple[str, ...]:
        return self.exclude + self.extend_exclude


def real_path(path: Path) -> Path:
    """The canonical path; unlike ``Path.resolve`` it never raises on a symlink loop."""
    return Path(os.path.realpath(path))


def _relative(path: Path, root: Path) -> str:
    try:
        return real_path(path).relative_to(real_path(root)).as_posix()
    except ValueError:
        return path.as_posix()


def _glob_match(relative: str, pattern: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    if "/" not in pattern:
        return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relative, pattern)
    return fnmatch.fnmatch(relative, pattern.lstrip("./")) or fnmatch.fnmatch(
        relative, pattern.rstrip("/") + "/*"
    )


# -- reading files ------------------------------------------------------------------------------


def _table_of(path: Path) -> dict[str, Any] | None:
    """The torchlint table of a config file, or None when the file has none."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8: {_decode_problem(exc)}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table: dict[str, Any] | None = tool.get("torchlint") if isinstance(tool, dict) else None
        return table
    if "tool" in data and isinstance(data["tool"], dict) and "torchlint" in data["tool"]:
        nested: dict[str, Any] = data["tool"]["torchlint"]
        return nested
    return data


def _decode_problem(exc: UnicodeDecodeError) -> str:
    """Where a config file stops being UTF-8, for the user (TOML files must be UTF-8)."""
    data = exc.object
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return (
        f"invalid byte {data[exc.start : exc.start + 1]!r} at line {line}, column {column} "
        "(TOML files must be UTF-8)"
    )


def _prefix(path: Path) -> str:
    return "tool.torchlint." if path.name == "pyproject.toml" else ""


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _check_selectors(selectors: tuple[str, ...], where: str) -> None:
    from torchlint.registry import all_rule_refs

    for selector in selectors:
        try:
            match_selector(selector, all_rule_refs())
        except SelectorError as exc:
            raise ConfigError(f"{where}: {exc}") from exc


_VERSION = re.compile(r"\d+(\.\d+)*")


def parse_version(value: object, where: str) -> tuple[int, int]:
    if not isinstance(value, str):
        # TOML reads `2.10` as the number 2.1: the version the user wrote is already lost.
        hint = " (quote it: a TOML number loses digits, 2.10 reads as 2.1)" if value else ""
        raise ConfigError(f'{where}: expected a string such as "2.10", got {value!r}{hint}')
    text = value.strip()
    if not _VERSION.fullmatch(text):
        raise ConfigError(f'{where}: expected a version such as "2.10", got {value!r}')
    parts = text.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def check_patterns(patterns: tuple[str, ...], where: str) -> None:
    """Raise ConfigError naming ``where`` for a path pattern that gitignore syntax rejects."""
    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except ValueError as exc:
            raise ConfigError(f"{where}: invalid path pattern {pattern!r} ({exc})") from exc


def settings_from_table(table: dict[str, Any], path: Path) -> Settings:
    prefix = _prefix(path)
    values: dict[str, Any] = {"root": path.parent, "config_file": path}
    for key, value in table.items():
        where = f"{path}: `{prefix}{key}`"
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ConfigError(f"{path}: unknown key `{prefix}{key}`{hint}")
        if key in ("select", "extend-select", "ignore"):
            selectors = _string_list(value, where)
            _check_selectors(selectors, where)
            values[key.replace("-", "_")] = selectors
        elif key in ("exclude", "extend-exclude", "extend-include", "test-code"):
            values[key.replace("-", "_")] = _string_list(value, where)
            check_patterns(values[key.replace("-", "_")], where)
        elif key in ("preview", "unsafe-fixes", "fix-follow-symlinks"):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false, got {value!r}")
            values[key.replace("-", "_")] = value
        elif key == "torch-version":
            values["torch_version"] = parse_version(value, where)
        elif key == "src":
            values["src"] = _string_list(value, where)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table of pattern = [rules]")
            entries = []
            for pattern, selectors in value.items():
                inner = f'{path}: `{prefix}{key}."{pattern}"`'
                entries.append((pattern, _string_list(selectors, inner)))
                _check_selectors(entries[-1][1], inner)
            values["per_file_ignores"] = tuple(entries)
        elif key == "rules":
            values["rule_options"] = _rule_options(value, path, prefix)
    if "exclude" in values:
        values["exclude"] = tuple(values["exclude"])
    return Settings(**values)


def _rule_options(
    value: Any, path: Path, prefix: str
) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: `{prefix}rules`: expected a table of rule name -> options")
    out = []
    for rule_name, options in value.items():
        where = f"{path}: `{prefix}rules.{rule_name}`"
        rule = find_rule(rule_name)
        if rule is None:
            raise ConfigError(f"{where}: unknown rule")
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: expected a table of options")
        for option, option_value in options.items():
            if option not in rule.default_options:
                known = ", ".join(sorted(rule.default_options)) or "none"
                raise ConfigError(f"{where}: unknown option `{option}` (known: {known})")
            default = rule.default_options[option]
            if not isinstance(option_value, type(default)):
                raise ConfigError(
                    f"{where}.{option}: expected {type(default).__name__}, got {option_value!r}"
                )
        out.append((rule.name, tuple(sorted(options.items()))))
    return tuple(out)


def load_settings(path: Path) -> Settings:
    table = _table_of(path)
    if table is None:
        raise ConfigError(f"{path}: no [tool.torchlint] table")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: the torchlint configuration must be a table")
    return settings_from_table(table, path)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # an unreadable directory holds no config we can use
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # inside a directory we may not enter: configured by what is above it
        return False


def find_config(directory: Path) -> Path | None:
    """The nearest config file at or above ``directory`` that configures torchlint."""
    current = real_path(directory)
    while True:
        for name in CONFIG_FILES:
            candidate = current / name
            if _is_file(candidate):
                if name != "pyproject.toml":
                    return candidate
                try:
                    if _table_of(candidate) is not None:
                        return candidate
                except ConfigError:
                    return candidate  # let loading report the broken file
        if current.parent == current:
            return None
        current = current.parent


@dataclass
class Overrides:
    """Command-line settings: they win over every config file."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    preview: bool | None = None
    unsafe_fixes: bool | None = None
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fix_follow_symlinks: bool | None = None

    def apply(self, settings: Settings) -> Settings:
        changes: dict[str, Any] = {}
        if self.fix_follow_symlinks is not None:
            changes["fix_follow_symlinks"] = self.fix_follow_symlinks
        if self.select is not None:
            changes["select"] = self.select
        if self.extend_select:
            changes["extend_select"] = settings.extend_select + self.extend_select
        if self.ignore:
            changes["ignore"] = settings.ignore + self.ignore
        if self.preview is not None:
            changes["preview"] = self.preview
        if self.unsafe_fixes is not None:
            changes["unsafe_fixes"] = self.unsafe_fixes
        if self.exclude is not None:
            changes["exclude"] = self.exclude
        if self.extend_exclude:
            changes["extend_exclude"] = settings.extend_exclude + self.extend_exclude
        if self.per_file_ignores:
            changes["per_file_ignores"] = settings.per_file_ignores + self.per_file_ignores
        return replace(settings, **changes) if changes else settings


class SettingsResolver:
    """Finds and caches the settings for each directory (hierarchical, like ruff)."""

    def __init__(self, overrides: Overrides | None = None, config: Path | None = None) -> None:
        self.overrides = overrides or Overrides()
        self.explicit = config
        self._by_config: dict[Path | None, Settings] = {}
        self._by_dir: dict[Path, Path | None] = {}
        self._fixed: Settings | None = None
        if config is not None:
            self._fixed = self.overrides.apply(load_settings(config))

    def for_path(self, path: Path) -> Settings:
        if self._fixed is not None:
            return self._fixed
        directory = path if _is_dir(path) else path.parent
        key = directory if directory.is_absolute() else Path(os.path.abspath(directory))
        if key not in self._by_dir:
            self._by_dir[key] = find_config(key)
        config = self._by_dir[key]
        if config not in self._by_config:
            base = load_settings(config) if config is not None else Settings()
            self._by_config[config] = self.overrides.apply(base)
        return self._by_config[config]
