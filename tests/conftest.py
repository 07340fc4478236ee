from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Test helpers live beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The suite sees only the rule plug-in its own tests put on the path (tests/data/plugin), never
# one installed in the environment: expectations such as "every rule has fixture cases" or the
# SARIF rule list hold whatever else is installed. Set before torchlint reads its entry points,
# and inherited by the torchlint processes tests start.
os.environ["TORCHLINT_PLUGINS"] = "torchlint-example-plugin"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist's `-n`, distribute as `--dist loadgroup`: tests that share an expensive
    session fixture (the pre-commit hook environment) name one `xdist_group` and run on one worker,
    the others spread over all workers. (In addopts, `--dist` would break runs without xdist.)"""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
