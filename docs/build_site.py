"""Build torchlint's documentation site with MkDocs: ``python docs/build_site.py [--out DIR]``.

The site is made of the README (the home page), every page in ``docs/``, one page per rule from
``rules/`` (with its metadata, measured precision where the page states it, and fix safety),
a generated rule index, and CONTRIBUTING. The pages are copied into a staging folder (links between
them rewritten to the site's layout) beside a generated ``mkdocs.yml``, and ``mkdocs build`` turns
them into static HTML with a search index (``search/search_index.json``). The theme is Material for
MkDocs when it is installed (``pip install '.[docs]'``), else MkDocs' own theme; both have search.

Exit status: MkDocs' own (0 when the site was built). The site goes to ``site/`` by default.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_NAME = "torchlint"
SITE_DESCRIPTION = "A static linter for PyTorch anti-patterns, with autofixes"


def theme() -> str:
    return "material" if importlib.util.find_spec("material") is not None else "mkdocs"


def _rewrite_links(text: str, prefix: str) -> str:
    """Links written for the repository, made to work in the site (``prefix``: the page's depth)."""
    text = re.sub(r"\]\(rules/\)", f"]({prefix}rules/index.md)", text)
    text = re.sub(r"\]\((?:\.\./)?rules/(TL\d+\.md)", rf"]({prefix}rules/\1", text)
    text = re.sub(r"\]\(docs/([\w-]+\.md)", rf"]({prefix}\1", text)
    text = re.sub(r"\]\((?:\.\./)?CONTRIBUTING\.md", f"]({prefix}contributing.md", text)
    return text


def _rule_pages(staging: Path) -> list[tuple[str, str]]:
    """Copy the rule pages; (nav title, path) of each, in code order."""
    out = staging / "rules"
    out.mkdir()
    nav: list[tuple[str, str]] = []
    for page in sorted((ROOT / "rules").glob("TL*.md")):
        text = page.read_text(encoding="utf-8")
        (out / page.name).write_text(_rewrite_links(text, "../"), encoding="utf-8")
        title = text.splitlines()[0].lstrip("# ").strip() if text else page.stem
        nav.append((title, f"rules/{page.name}"))
    return nav


def _rule_index_page(staging: Path) -> None:
    """rules/index.md: every rule with its category, severity, fix and measured precision."""
    sys.path.insert(0, str(ROOT))
    try:
        from torchlint.measured import label
        from torchlint.registry import rule_catalog

        rules = rule_catalog()
    finally:
        sys.path.remove(str(ROOT))
    lines = [
        "# Rules",
        "",
        "Every rule torchlint has, with its measured precision on real projects (where it has",
        "been measured; see [Measured precision](../precision.md) when present) and the safety",
        "of its fix. Each page says what the rule reports, why it is bad, an example, what to",
        "use instead and why its fix is safe or not.",
        "",
        "| code | name | what it reports | category | severity | fix | precision | preview |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rules:
        fix = r.fix_applicability.value if r.fix_applicability is not None else "-"
        summary = r.summary.replace("|", "\\|")
        lines.append(
            f"| [{r.code}]({r.code}.md) | `{r.name}` | {summary} | {r.category.value} | "
            f"{r.severity.value} | {fix} | {label(r.code)} | {'yes' if r.preview else ''} |"
        )
    (staging / "rules" / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def stage(staging: Path) -> dict[str, object]:
    """Write the site's Markdown into ``staging``/docs and return the MkDocs configuration."""
    docs = staging / "docs"
    docs.mkdir(parents=True)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (docs / "index.md").write_text(_rewrite_links(readme, ""), encoding="utf-8")
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    (docs / "contributing.md").write_text(_rewrite_links(contributing, ""), encoding="utf-8")
    guides: list[dict[str, str]] = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        (docs / page.name).write_text(_rewrite_links(text, ""), encoding="utf-8")
        heading = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), None)
        guides.append({heading or page.stem: page.name})
    rule_nav = _rule_pages(docs)
    _rule_index_page(docs)
    config: dict[str, object] = {
        "site_name": SITE_NAME,
        "site_description": SITE_DESCRIPTION,
        "docs_dir": "docs",
        "use_directory_urls": False,  # plain .html files: the site works from file:// too
        "theme": {"name": theme()},
        "plugins": ["search"],
        "markdown_extensions": ["tables", "toc", "admonition", "fenced_code"],
        "nav": [
            {"Home": "index.md"},
            {"Rules": [{"All rules": "rules/index.md"}] + [{t: p} for t, p in rule_nav]},
            {"Guides": guides},
            {"Contributing": "contributing.md"},
        ],
    }
    if config["theme"] == {"name": "material"}:
        config["theme"] = {"name": "material", "features": ["search.suggest", "search.share"]}
        config["markdown_extensions"] = [*config["markdown_extensions"], "pymdownx.superfences"]
    # JSON is YAML: no YAML library needed to write the configuration.
    (staging / "mkdocs.yml").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return config


def build(out: Path, quiet: bool = False) -> int:
    """Build the site into ``out``; MkDocs' exit status."""
    out = out.resolve()
    with tempfile.TemporaryDirectory(prefix="torchlint-docs-") as tmp:
        staging = Path(tmp)
        stage(staging)
        command = [sys.executable, "-m", "mkdocs", "build", "--clean"]
        command += ["-f", str(staging / "mkdocs.yml"), "-d", str(out)]
        if quiet:
            command.append("--quiet")
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about MkDocs 2
        return subprocess.run(command, check=False, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="default: site/")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("mkdocs") is None:
        print("build_site: MkDocs is not installed: pip install '.[docs]'", file=sys.stderr)
        return 2
    status = build(args.out, args.quiet)
    if status == 0:
        index = args.out / "index.html"
        print(f"build_site: {index} (search index: {args.out / 'search' / 'search_index.json'})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
