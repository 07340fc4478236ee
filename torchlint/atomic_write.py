"""Writing a small file so that a concurrent reader never sees it half written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(target: Path, text: str) -> None:
    """``target`` holds ``text`` whole, or is as it was: a concurrent reader never sees half,
    and a failed write (a full disk) leaves no temporary file behind. The temporary file is
    ``.tmp-*.json`` beside the target (the results cache recognises those as its own)."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
