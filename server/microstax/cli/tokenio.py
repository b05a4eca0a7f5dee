"""Reading a token from the command line: an argument, ``-`` for stdin, or ``--token-file``.

Passing a token as an argument puts it in the shell history and the process list; the docs
show ``-`` and ``--token-file``. Errors name the source, never the token.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..jose import MAX_TOKEN_BYTES, read_limited
from . import exit_codes
from .errors import CLIError

#: Read a little past the parser's limit so that "too large" is reported by the parser.
_READ_LIMIT = 2 * MAX_TOKEN_BYTES


def token_options(func: Any) -> Any:
    """``TOKEN|-`` and ``--token-file FILE`` for a command taking one token."""
    func = click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
                        help="Read the token from this file (or '-' for stdin).")(func)
    return click.argument("token", required=False, metavar="[TOKEN|-]")(func)


def _strip_bearer(text: str) -> str:
    text = text.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    return text


def read_token(token: str | None, token_file: Path | None) -> str:
    """The token text from exactly one source. Raises ``CLIError`` (exit 2)."""
    if token is not None and token_file is not None:
        raise CLIError("give the token either as an argument or with --token-file, not both",
                       exit_code=exit_codes.USAGE, code="usage")
    if token_file is not None and str(token_file) != "-":
        try:
            raw = read_limited(token_file, max_bytes=_READ_LIMIT)  # no FIFO, no /dev/zero
        except OSError as exc:
            raise CLIError(f"cannot read the token file {token_file}: {exc.strerror or exc}",
                           exit_code=exit_codes.USAGE, code="io") from exc
        source = f"the token file {token_file}"
    elif token == "-" or (token_file is not None and str(token_file) == "-"):
        raw = sys.stdin.buffer.read(_READ_LIMIT)
        source = "standard input"
    elif token is not None:
        raw = token.encode("utf-8", "surrogateescape")
        source = "the argument"
    else:
        raise CLIError("no token given", exit_code=exit_codes.USAGE, code="usage",
                       hint="pipe it in with '-' (… verify - < token.txt) or use --token-file FILE")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CLIError(f"{source} is not UTF-8 text", exit_code=exit_codes.USAGE, code="io") from exc
    text = _strip_bearer(text)
    if not text:
        raise CLIError(f"{source} is empty", exit_code=exit_codes.USAGE, code="usage")
    return text
