"""Rule plug-ins: the distributions that register rules under the ``torchlint.rules`` entry point.

A warm run (every file answered from the cache) must not import a plug-in, nor LibCST through it.
What selection and the cache key need of a plug-in's rules (code, name, preview flag, module, and
what ``torchlint rules`` lists) is therefore kept in a *plug-in index*, one small JSON file per
distribution under the user's cache folder (``$XDG_CACHE_HOME/torchlint/plugins``, else
``~/.cache/torchlint/plugins``), stamped with the distribution's fingerprint. A plug-in is imported
only when its index is missing or its fingerprint changed, or when one of its rules must lint.

The fingerprint is the distribution's name, version and entry points; for an editable install
(PEP 660, ``direct_url.json`` with ``dir_info.editable``) or a package found on the path with no
installer's ``RECORD``, whose files change in place, also the size and mtime of every ``.py``
file of the packages its entry points name. It is part of each plug-in rule's cache key, so
editing a plug-in's helper module invalidates the cached results.

A run with ``--no-cache`` reads the plug-in indexes but writes none.

``TORCHLINT_IGNORE_PLUGINS`` turns plug-ins off: a comma-separated list of distribution names,
or ``*`` for all of them. torchlint's own tests set it to the plug-ins installed when they start.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import Distribution, EntryPoint, entry_points
from pathlib import Path

from torchlint.atomic_write import write_atomically

ENTRY_POINT_GROUP = "torchlint.rules"
IGNORE_VARIABLE = "TORCHLINT_IGNORE_PLUGINS"
_INDEX_FORMAT = 1


@dataclass(frozen=True)
class PluginDistribution:
    """One installed distribution with rule entry points, identified without importing it."""

    name: str
    version: str
    entry_points: tuple[EntryPoint, ...]
    fingerprint: str

    @property
    def index_file(self) -> Path:
        return plugin_index_dir() / f"{_normalized(self.name)}.json"

    def read_index(self) -> list[dict[str, object]] | None:
        """The rule entries recorded for this very fingerprint, or None (missing, stale, damaged)."""
        try:
            data = json.loads(self.index_file.read_text(encoding="utf-8"))
            if data["format"] != _INDEX_FORMAT or data["fingerprint"] != self.fingerprint:
                return None
            rules = data["rules"]
            if not isinstance(rules, list) or not all(isinstance(e, dict) for e in rules):
                return None
            return rules
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_index(self, rules: list[dict[str, object]]) -> None:
        if not RECORD_INDEX:
            return
        payload = {"format": _INDEX_FORMAT, "fingerprint": self.fingerprint, "rules": rules}
        try:
            self.index_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.index_file, json.dumps(payload, indent=1))
        except OSError:
            pass  # an unwritable home: the plug-in is imported on every run, nothing worse


# False for a run told to write no cache (``--no-cache``): plug-in indexes are read, never written.
RECORD_INDEX = True


def plugin_index_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torchlint" / "plugins"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _ignored() -> set[str]:
    value = os.environ.get(IGNORE_VARIABLE, "")
    return {_normalized(n.strip()) for n in value.split(",") if n.strip()}


def plugin_distributions() -> list[PluginDistribution]:
    """Every distribution registering rules (but those ``TORCHLINT_IGNORE_PLUGINS`` names), by
    name."""
    ignored = _ignored()
    grouped: dict[str, tuple[str, Distribution | None, list[EntryPoint]]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        name = (dist.metadata["Name"] if dist is not None else None) or ep.module
        if "*" in ignored or _normalized(name) in ignored:
            continue
        # entry_points() already keeps only the first of a distribution seen twice on the path.
        grouped.setdefault(_normalized(name), (name, dist, []))[2].append(ep)
    return [_describe(*grouped[key]) for key in sorted(grouped)]


def _describe(name: str, dist: Distribution | None, eps: list[EntryPoint]) -> PluginDistribution:
    version = dist.version if dist is not None else ""
    parts = [name, version, *sorted(f"{ep.name}={ep.value}" for ep in eps)]
    if dist is None or _changes_in_place(dist):
        parts.extend(_file_stamps(ep.module.split(".")[0] for ep in eps))
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return PluginDistribution(name, version, tuple(eps), digest)


def _changes_in_place(dist: Distribution) -> bool:
    """Whether the distribution's files are its author's working copy: an editable install, or
    a package on the path that no installer recorded."""
    try:
        direct_url = dist.read_text("direct_url.json")
        if direct_url is not None and json.loads(direct_url).get("dir_info", {}).get("editable"):
            return True
    except (ValueError, AttributeError):
        pass  # an unreadable direct_url.json says nothing either way
    return dist.read_text("RECORD") is None


def _file_stamps(top_level_modules: Iterable[str]) -> list[str]:
    """``path:mtime:size`` of each ``.py`` file of these top-level modules or packages, found
    without importing them (``find_spec`` of a top-level name runs none of its code)."""
    stamps: list[str] = []
    for module in sorted(set(top_level_modules)):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            stamps.append(f"{module}:missing")
            continue
        roots = list(spec.submodule_search_locations or ())
        files = sorted(_python_files(roots)) if roots else [spec.origin or ""]
        for file in files:
            try:
                info = os.stat(file)
            except OSError:
                continue
            stamps.append(f"{file}:{info.st_mtime_ns}:{info.st_size}")
    return stamps


def _python_files(roots: list[str]) -> Iterator[str]:
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            yield from (os.path.join(directory, n) for n in filenames if n.endswith(".py"))
