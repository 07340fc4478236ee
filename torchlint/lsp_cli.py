"""The ``torchlint lsp`` command. pygls is imported only when the command runs (the ``lsp`` extra)."""

from __future__ import annotations

import importlib
import logging
import sys

import click

INSTALL_HINT = "pip install 'torchlint[lsp]'"


@click.command("lsp")
@click.option(
    "--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only transport)."
)
def lsp_command(stdio: bool) -> None:
    """Run the Language Server Protocol server for editors (over stdio)."""
    missing = []
    for name in ("pygls", "lsprotocol"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        click.echo(
            f"torchlint: error: `torchlint lsp` needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed. Install the editor extra: "
            f"{INSTALL_HINT}",
            err=True,
        )
        sys.exit(2)
    serve()


def serve() -> None:
    """Speak LSP on stdin/stdout until the client says exit."""
    from torchlint.lsp import create_server
    from torchlint.lsp_io import serve_stdio

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="torchlint lsp: %(levelname)s %(message)s"
    )
    protocol_out = sys.stdout.buffer
    # Whatever a rule or plug-in prints must not corrupt the protocol stream.
    sys.stdout = sys.stderr
    serve_stdio(create_server(), sys.stdin.buffer, protocol_out)
