"""Rule documentation: the Markdown pages in ``rules/`` (shipped as ``torchlint._docs``)."""

from __future__ import annotations

import inspect
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from torchlint.layout import SOURCE_TREE

if TYPE_CHECKING:
    import sys

    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

    from torchlint.rule import Rule


def _page(code: str) -> Traversable | None:
    """The documentation page of ``code``: the shipped one, else the source tree's (an editable
    install or a checkout), or None."""
    try:
        page = resources.files("torchlint._docs").joinpath(f"{code}.md")
        if page.is_file():
            return page
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        pass
    candidate = SOURCE_TREE.page_path(code)
    return candidate if candidate.is_file() else None


# Where docs/build_site.py puts a rule's page, relative to the site's root.
RULE_PAGE = "rules/{code}.html"


@cache
def documentation_url() -> str | None:
    """The documentation site's root: ``[project.urls] Documentation`` of the installed distribution
    (pyproject.toml declares it once), or None when the metadata has none (an old install)."""
    from importlib import metadata

    try:
        entries = metadata.metadata("torchlint").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in entries:
        label, _, url = str(entry).partition(",")
        if label.strip().lower() == "documentation" and url.strip():
            return url.strip().rstrip("/") + "/"
    return None


def page_href(code: str) -> str | None:
    """The link to the documentation page of ``code``, if torchlint ships one: its page on the
    documentation site, or a ``file:`` link to the shipped Markdown where no site is declared.
    ``torchlint rule`` reads the shipped page and needs no network."""
    page = _page(code)
    if page is None:
        return None
    base = documentation_url()
    if base is not None:
        return base + RULE_PAGE.format(code=code)
    return page.resolve().as_uri() if isinstance(page, Path) else None


def doc_href(rule: type[Rule] | None) -> str | None:
    """A link to the rule's documentation: its own ``url`` (plug-ins), else its shipped page."""
    if rule is None:
        return None
    url = getattr(rule, "url", None) or getattr(rule, "docs_url", None)
    if isinstance(url, str) and url:
        return url
    return page_href(rule.code)


@cache
def _doc_text(code: str) -> str | None:
    page = _page(code)
    return page.read_text(encoding="utf-8") if page is not None else None


def rule_doc(rule: type[Rule]) -> str:
    """The rule's Markdown page; for a plug-in rule without one, its docstring."""
    text = _doc_text(rule.code)
    if text is not None:
        return text
    docstring = inspect.getdoc(rule) or inspect.getdoc(inspect.getmodule(rule)) or rule.summary
    return f"# {rule.code} {rule.name}\n\n{docstring}\n"


def doc_section(markdown: str, title: str) -> str | None:
    """The body of ``## title`` in a rule page."""
    match = re.search(rf"^## {re.escape(title)}\s*\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    return match.group(1).strip() if match else None


def code_block(section: str | None) -> str | None:
    if section is None:
        return None
    match = re.search(r"```python\n(.*?)```", section, re.S)
    return match.group(1) if match else None
