"""``microstax env list``: the configured environments, which is the default, where you are
signed in."""

from __future__ import annotations

from pathlib import Path

import click

from .client_common import config_option, run, table
from .output import echo, emit_json, json_option


@click.group(name="env")
def env() -> None:
    """Environments (from the user config)."""


@env.command(name="list")
@config_option
@json_option
def list_envs(config_file: Path | None, as_json: bool) -> None:
    """List environments: name, issuer, default, signed in."""
    from ..identity.models import EnvironmentInfo
    from ..identity.service import IdentityService

    async def body(service: IdentityService) -> list[EnvironmentInfo]:
        return await service.list_environments()

    envs = run(config_file, body)
    if as_json:
        emit_json("environments", {"environments": [e.to_json() for e in envs]})
        return
    rows = [[("* " if e.default else "  ") + e.name, "yes" if e.signed_in else "no", e.flavour, e.issuer]
            for e in envs]
    echo(table(rows, ["  ENVIRONMENT", "SIGNED IN", "KIND", "ISSUER"]))
