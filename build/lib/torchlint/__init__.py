"""torchlint: a static linter for PyTorch anti-patterns."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("torchlint")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
