"""Write a command's report: to stdout (stderr with ``err``), or to the file given with ``-o``."""

from __future__ import annotations

from pathlib import Path

import click


class OutputError(Exception):
    """The report file could not be written."""


def write_report(text: str, output_file: Path | None, err: bool = False) -> None:
    if output_file is not None:
        try:
            output_file.parent.mkdir(parents=True, exist_ok=True)
            output_file.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {output_file}: {exc.strerror or exc}") from exc
        return
    click.echo(text, nl=False, err=err)
