"""``microstax platform show-config`` and ``microstax platform hash-secret``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import exit_codes
from .errors import CLIError
from .output import echo, emit_json
from .platform_init import data_dir_option, default_data_dir


@click.command("show-config")
@data_dir_option
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def show_config(data_dir: Path | None, config_path: Path | None, as_json: bool) -> None:
    """Validate the config and summarise it (environments, clusters, clients, policy)."""
    from microstax.platform import ConfigError, load_config

    path = config_path or (data_dir or default_data_dir()) / "platform.toml"
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise CLIError(exc.message, exit_code=exit_codes.CONFIG, code="config") from exc
    summary = {
        "path": str(path),
        "issuer": config.issuer,
        "devAutoApproveUser": config.auto_approve_user,
        "state": {"backend": config.state.backend, "dsnEnv": config.state.dsn_env,
                  "dsnFile": config.state.dsn_file},
        "environments": [{"name": e.name, "trustDomain": e.trust_domain,
                          "clusters": [{"name": c.name, "ownIssuer": c.own_issuer,
                                        "services": list(c.services)} for c in e.clusters]}
                         for e in config.environments],
        "clients": [{"clientId": c.client_id, "public": c.public, "grantTypes": list(c.grant_types)}
                    for c in config.clients.values()],
        "users": sorted(config.users),
        "policies": [{"name": p.name, "actors": list(p.actors), "environment": p.environment,
                      "services": list(p.services), "clusters": list(p.clusters),
                      "scopes": list(p.scopes)} for p in config.policies],
    }
    if as_json:
        emit_json("platform-config", summary)
        return
    echo(f"{path}: valid")
    if config.auto_approve_user:
        echo(f"  DEV MODE: device sign-ins auto-approved for {config.auto_approve_user!r} (loopback only)")
    if config.state.backend == "postgresql":
        source = (f"env {config.state.dsn_env}" if config.state.dsn_env
                  else f"file {config.state.dsn_file}")
        echo(f"  state: PostgreSQL (DSN from {source})")
    else:
        echo("  state: SQLite in the data dir")
    for env in config.environments:
        echo(f"  environment {env.name} ({env.trust_domain})")
        for c in env.clusters:
            own = " [own issuer]" if c.own_issuer else ""
            echo(f"    {c.name}{own}: {', '.join(c.services)}")
    for client in config.clients.values():
        echo(f"  client {client.client_id} ({'public' if client.public else 'confidential'})")
    for p in config.policies:
        echo(f"  policy {p.name}: {', '.join(p.actors)} -> {', '.join(p.services)} in "
             f"{', '.join(p.clusters)} ({p.environment}) scopes {' '.join(p.scopes)}")


@click.command("hash-secret")
def hash_secret() -> None:
    """Read a secret from stdin and print its scrypt hash for platform.toml."""
    from microstax.platform.secrets import hash_secret as do_hash

    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise CLIError("no secret on stdin", exit_code=exit_codes.USAGE, code="usage",
                       hint="printf '%s' \"$SECRET\" | microstax platform hash-secret")
    echo(do_hash(secret))
