"""The documentation site: built by `python docs/build_site.py` and looked at in headless Chromium.

The home page, a rule page (its metadata, fix safety and whatever precision its page states) and
the search (a query returns the rule's page) are checked in a real browser, served over HTTP as a
web server would. Screenshots are kept in the test's folder and copied to tests/artifacts/
(git-ignored). Needs MkDocs (`pip install '.[docs]'`) and Chromium (Debian: `apt-get install -y
chromium`); skipped with that reason without them. `.ci/run` installs both, so there it runs.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser import Chromium
from external_tools import require_executable, require_tool

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.slow


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool(importlib.util.find_spec("mkdocs") is not None, "MkDocs", "pip install '.[docs]'")
    out = tmp_path_factory.mktemp("docs") / "site"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_site.py"), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    executable = require_executable("chromium", "Debian: `apt-get install -y chromium`")
    chromium = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


def keep(screenshot: Path) -> None:
    """Copy a screenshot to tests/artifacts/ and say where it is."""
    ARTIFACTS.mkdir(exist_ok=True)
    kept = ARTIFACTS / screenshot.name
    shutil.copyfile(screenshot, kept)
    print(f"screenshot: {kept}")


def test_site_has_every_rule_page_and_a_search_index(site: Path) -> None:
    from torchlint.docs import RULE_PAGE
    from torchlint.registry import all_rule_refs

    for rule in all_rule_refs():
        assert (site / "rules" / f"{rule.code}.html").is_file(), rule.code
        # Rule links (JSON `url`, LSP codeDescription) are <Documentation>RULE_PAGE: a page here.
        assert (site / RULE_PAGE.format(code=rule.code)).is_file(), rule.code
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"] for doc in index["docs"]}
    assert "rules/TL001.html" in locations and "index.html" in locations


def test_home_page_in_chromium(browser: Chromium, served: str, tmp_path: Path) -> None:
    browser.open(f"{served}/index.html")
    assert browser.evaluate("document.querySelector('h1').textContent.trim()") == "torchlint"
    assert "torchlint" in browser.evaluate("document.title")
    text = browser.evaluate("document.body.innerText")
    assert "A static linter for PyTorch anti-patterns" in text
    links = browser.evaluate("[...document.querySelectorAll('a')].map(a => a.href)")
    assert f"{served}/rules/TL001.html" in links  # the navigation reaches the rule pages
    keep(browser.screenshot(tmp_path / "docs-home.png"))


def test_rule_page_shows_metadata_fix_safety_and_precision(
    browser: Chromium, served: str, tmp_path: Path
) -> None:
    browser.open(f"{served}/rules/TL001.html")
    title = browser.evaluate("document.querySelector('article h1, .md-content h1, h1').textContent")
    assert title.strip().startswith("TL001 missing-zero-grad")
    text = browser.evaluate("document.body.innerText")
    for words in ("Category:", "Severity:", "Fix:", "Fix safety", "Example", "Use instead"):
        assert words in text, words
    # Every line of the page's metadata list (precision, measured where the page states it).
    page = (ROOT / "rules" / "TL001.md").read_text(encoding="utf-8")
    metadata = [line for line in page.split("\n## ")[0].splitlines() if line.startswith("- **")]
    assert any("Precision" in line for line in metadata)
    for line in metadata:
        label, _, value = line[2:].replace("**", "").partition(":")
        assert f"{label}:" in text and value.strip().replace("`", "") in text, line
    keep(browser.screenshot(tmp_path / "docs-rule-TL001.png"))


def test_search_finds_a_rule(browser: Chromium, served: str, tmp_path: Path) -> None:
    """Material's search opens with the query of `?q=` and lists the matching pages."""
    browser.open(f"{served}/index.html?q=missing-zero-grad")
    results = "[...document.querySelectorAll('.md-search-result__item a')].map(a => a.href)"
    browser.wait_for(f"{results}.length > 0", timeout=60)
    found = browser.evaluate(results)
    assert any("/rules/TL001.html" in href for href in found), found
    keep(browser.screenshot(tmp_path / "docs-search.png"))
