"""``microstax daemon``: the language server editors start (LSP over stdio)."""

from __future__ import annotations

import click


@click.command()
@click.option("--stdio", is_flag=True, default=True, hidden=True,
              help="Serve on stdin/stdout (the only transport; accepted for LSP clients that pass it).")
@click.option("--log-level", type=click.Choice(["error", "warn", "info", "debug"]), default=None,
              help="Initial log level (the editor's setting overrides it). Logs go to stderr.")
def daemon(stdio: bool, log_level: str | None) -> None:
    """Run the MicroStax language server for editors (LSP over stdio).

    stdout carries only the protocol; logs go to stderr and to the editor, tokens redacted.
    """
    from ..daemon.server import run

    run(log_level=log_level)
