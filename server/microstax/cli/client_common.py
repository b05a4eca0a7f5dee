"""What the client subcommands share: ``--config``/``--env``, running the async identity
service, and plain-text tables. The commands themselves live one per module (login.py,
federate.py, status.py, envs.py, clusters.py, config_cmd.py)."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ..identity.models import ClusterState
    from ..identity.service import IdentityService

_T = TypeVar("_T")


def config_option(func: Any) -> Any:
    return click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                        help="The user config file (default: $MICROSTAX_CONFIG, else config.toml "
                        "in the platformdirs config dir).")(func)


def env_option(func: Any) -> Any:
    return click.option("--env", "-e", "environment", metavar="ENV",
                        help="The environment (default: $MICROSTAX_ENV, else default_environment of "
                        "the config).")(func)


def run(config_file: Path | None, body: Callable[[IdentityService], Awaitable[_T]]) -> _T:
    """Build the identity service from the config file and run ``body`` on a fresh event loop
    (uvloop when installed: ``adapters.eventloop``)."""
    from ..adapters import eventloop
    from ..identity import config as config_mod
    from ..identity.service import IdentityService

    config = config_mod.load(config_file)

    async def main() -> _T:
        async with IdentityService(config, config_file=config_file) as service:
            return await body(service)

    return eventloop.run(main())


def stderr(text: str = "") -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(header), *rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def left(seconds: float | None) -> str:
    from ..jose import humanize_seconds

    if seconds is None:
        return "-"
    return f"{humanize_seconds(seconds)} left" if seconds > 0 else "expired"


def token_cell(state: ClusterState, now: float | None = None) -> str:
    """muster-like ``[SSO: Exchanged] service, 4m 10s left`` / ``[failed: network] why``."""
    now = time.time() if now is None else now
    token = state.token
    if token.state == "exchanged":
        text = f"[SSO: Exchanged] {token.service or ''}, {left((token.expires_at or now) - now)}"
        if token.failure is not None:
            text += f" (refresh failed, {token.failure.kind}: {token.failure.message})"
        return text
    if token.state == "failed" and token.failure is not None:
        return f"[failed: {token.failure.kind}] {token.failure.message}"
    return "[not exchanged]"
