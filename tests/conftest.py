from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test helpers (fixture readers) live beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist's `-n`, distribute as `--dist loadgroup`: tests that share an expensive
    session fixture (the pre-commit hook environment) name one `xdist_group` and run on one worker,
    the others spread over all workers. (In addopts, `--dist` would break runs without xdist.)"""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
