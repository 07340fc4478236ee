"""Helpers for tests of optional external tools (Neovim, Chromium, MkDocs)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(found: bool, what: str, install: str) -> None:
    """Skip a test of an optional external tool that is missing, saying why and how to get it.

    `.ci/run` installs every such tool and sets TORCHLINT_REQUIRE_TOOLS=1, so there a missing
    tool fails the test instead of skipping it.
    """
    if found:
        return
    reason = f"{what} is not installed ({install}; .ci/run installs it)"
    if os.environ.get("TORCHLINT_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason}, and TORCHLINT_REQUIRE_TOOLS=1 asks for every tool")
    pytest.skip(reason)


def require_executable(name: str, install: str) -> str:
    """The path of executable `name`, or skip (see `require_tool`)."""
    path = shutil.which(name)
    require_tool(path is not None, f"`{name}`", install)
    assert path is not None
    return path
