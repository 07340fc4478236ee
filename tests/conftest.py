from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Test helpers live beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _installed_plugins() -> list[str]:
    from importlib.metadata import entry_points

    return sorted(
        {ep.dist.metadata["Name"] for ep in entry_points(group="torchlint.rules") if ep.dist}
    )


# Rule plug-ins installed in this environment are turned off for the whole suite (in process and in
# the torchlint processes tests start, which inherit it): expectations such as "every rule has
# fixture cases" or the SARIF rule list hold whatever is installed. The plug-ins tests make
# themselves (tests/data/plugin, or a site folder under tmp_path) are not on the path yet, so
# stay on. tests/test_plugin_install.py runs tests with examples/plugin installed to show it.
_ignored = [os.environ.get("TORCHLINT_IGNORE_PLUGINS", ""), *_installed_plugins()]
os.environ["TORCHLINT_IGNORE_PLUGINS"] = ",".join(n for n in _ignored if n)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist's `-n`, distribute as `--dist loadgroup`: tests that share an expensive
    session fixture (the pre-commit hook environment) name one `xdist_group` and run on one worker,
    the others spread over all workers. (In addopts, `--dist` would break runs without xdist.)"""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
