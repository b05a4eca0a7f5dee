"""``microstax cluster list``: the clusters of an environment, from the platform's catalog merged
with the local config, with their status and the state of your token for each."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .client_common import config_option, env_option, run, table, token_cell
from .output import echo, emit_json, json_option, warn


@click.group(name="cluster")
def cluster() -> None:
    """Target clusters (platform catalog + local config)."""


@cluster.command(name="list")
@env_option
@config_option
@click.option("--refresh", is_flag=True, help="Re-read the platform catalog now.")
@json_option
def list_clusters(environment: str | None, config_file: Path | None, refresh: bool, as_json: bool) -> None:
    """List clusters: name, region, status, token endpoint, token state."""
    from ..identity.models import ClusterState
    from ..identity.service import IdentityService

    async def body(service: IdentityService) -> tuple[str, list[ClusterState], str | None]:
        env = await service.resolve_environment(environment)
        states = await service.list_clusters(env.name, fresh=refresh)
        return env.name, states, service.catalog_error(env.name)

    name, states, error = run(config_file, body)
    now = time.time()
    if as_json:
        doc = {"environment": name, "clusters": [s.to_json(now) for s in states]}
        if error:
            doc["catalogError"] = error
        emit_json("clusters", doc)
        return
    if error:
        warn(error)
    rows = [[s.name, s.cluster.region or "-", s.cluster.status, s.cluster.exchange.flavour, s.cluster.source,
             token_cell(s, now)] for s in states]
    echo(table(rows, ["CLUSTER", "REGION", "STATUS", "IDP", "SOURCE", "TOKEN"]))
