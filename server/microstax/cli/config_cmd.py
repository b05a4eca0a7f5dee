"""``microstax config``: the effective client configuration and where each value came from;
secrets in the OS keyring for ``keyring:NAME`` references.

    microstax config show [--env E] [--clusters] [--json]
    microstax config path
    microstax config add-platform NAME URL [--default]   (keeps the rest of the file as written)
    microstax config secret set NAME      (reads the secret from stdin, never from argv)
    microstax config secret delete NAME
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from . import exit_codes
from .client_common import config_option, env_option, run, table
from .errors import CLIError
from .output import echo, emit_json, json_option


@click.group(name="config")
def config() -> None:
    """The client configuration (shared by the CLI and the daemon)."""


def _rows(cfg: Any, only_env: str | None) -> list[dict[str, Any]]:
    """(key, value, source) for every effective setting."""
    rows: list[dict[str, Any]] = []

    def add(key: str, value: Any) -> None:
        if value is None or value == () or value == {}:
            return
        if isinstance(value, tuple):
            value = list(value)
        rows.append({"key": key, "value": value, "source": cfg.sources.get(key, "default")})

    rows.append({"key": "default_environment", "value": cfg.default_name(),
                 "source": cfg.default_source()})
    for field in dataclasses.fields(cfg.defaults):
        add(f"defaults.{field.name}", getattr(cfg.defaults, field.name))
    for env in cfg.environments.values():
        if only_env and env.name != only_env:
            continue
        p = f"environments.{env.name}"
        add(f"{p}.platform" if env.platform else f"{p}.issuer", env.issuer)
        for name in ("flavour", "catalog", "catalog_environment", "client_id", "auth_method", "scopes",
                     "login_method", "trust_domain", "description"):
            add(f"{p}.{name}", getattr(env, name))
        add(f"{p}.client_secret", env.client_secret_ref)
        if env.workload is not None:
            for field in dataclasses.fields(env.workload):
                key = "client_secret" if field.name == "client_secret_ref" else field.name
                add(f"{p}.workload.{key}", getattr(env.workload, field.name))
        for cname, entry in env.clusters.items():
            c = f"{p}.clusters.{cname}"
            for name in ("issuer", "audience", "region", "header_budget", "services"):
                add(f"{c}.{name}", getattr(entry, name))
            for field in dataclasses.fields(entry.exchange):
                key = "client_secret" if field.name == "client_secret_ref" else field.name
                add(f"{c}.token_exchange.{key}", getattr(entry.exchange, field.name))
    return rows


@config.command(name="show")
@env_option
@config_option
@click.option("--clusters", "with_clusters", is_flag=True,
              help="Also resolve the environment's clusters (reads the platform catalog).")
@json_option
def show(environment: str | None, config_file: Path | None, with_clusters: bool, as_json: bool) -> None:
    """Show the effective configuration and where each value came from."""
    from ..adapters import clipboard
    from ..adapters.secrets import INSECURE_ENV, SecretStoreUnavailable, default_store
    from ..identity import config as config_mod
    from ..identity import paths

    cfg = config_mod.load(config_file)
    if environment:
        cfg.environment(environment)  # unknown -> UNKNOWN_ENVIRONMENT
    _, path_source = paths.config_path(config_file)
    state = paths.state_dir()
    try:
        store = default_store(state).description
    except SecretStoreUnavailable as exc:
        store = f"unavailable: {exc.message}"
    try:
        clip = clipboard.mechanism()
    except Exception:
        clip = "unavailable"
    rows = _rows(cfg, environment)
    clusters: list[dict[str, Any]] = []
    if with_clusters:
        from ..identity.service import IdentityService

        async def body(service: IdentityService) -> list[Any]:
            return await service.list_clusters(environment)

        for st in run(config_file, body):
            c = st.cluster
            clusters.append({"name": c.name, "source": c.source, "issuer": c.issuer,
                             "tokenEndpoint": c.exchange.token_endpoint or "(discovered)",
                             "expectedIssuer": c.exchange.expected_issuer, "audience": c.audience,
                             "flavour": c.exchange.flavour, "connectorId": c.exchange.connector_id,
                             "clientId": c.exchange.client_id, "clientSecret": c.exchange.client_secret_ref,
                             "scopes": list(c.exchange.scopes), "headerBudget": c.header_budget})
    doc = {"file": {"path": str(cfg.path), "exists": cfg.exists, "source": path_source},
           "stateDir": str(state), "secretStore": store, "clipboard": clip,
           "insecureFileKeyring": INSECURE_ENV, "settings": rows}
    if with_clusters:
        doc["clusters"] = clusters
    if as_json:
        emit_json("config", doc)
        return
    exists = "exists" if cfg.exists else "not present: built-in defaults"
    echo(f"config file   {cfg.path} ({path_source}; {exists})")
    echo(f"state dir     {state}")
    echo(f"secret store  {store}")
    echo(f"clipboard     {clip}")
    echo("")
    echo(table([[r["key"], _fmt(r["value"]), r["source"]] for r in rows], ["KEY", "VALUE", "SOURCE"]))
    if clusters:
        echo("")
        echo(table([[c["name"], c["source"], c["flavour"], c["tokenEndpoint"], c["expectedIssuer"]]
                    for c in clusters], ["CLUSTER", "SOURCE", "IDP", "TOKEN ENDPOINT", "EXPECTED ISSUER"]))


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@config.command(name="path")
@config_option
def path_cmd(config_file: Path | None) -> None:
    """Print the path of the config file in use."""
    from ..identity import paths

    path, _ = paths.config_path(config_file)
    echo(str(path))


@config.command(name="add-platform")
@click.argument("name")
@click.argument("url")
@click.option("--default", "make_default", is_flag=True,
              help="Make it the default environment too (when the file names none).")
@config_option
@json_option
def add_platform_cmd(name: str, url: str, make_default: bool, config_file: Path | None, as_json: bool) -> None:
    """Add [environments.NAME] platform = URL to the config file: no TOML by hand.

    The rest of the file is kept as written; the result is checked before it is written.
    """
    from ..identity.config_edit import add_platform

    edit = add_platform(config_file, name, url, make_default=make_default)
    doc = {"path": str(edit.path), "environment": edit.environment, "platform": edit.platform,
           "changed": edit.changed, "default": edit.default}
    if as_json:
        emit_json("config.add-platform", doc)
        return
    if not edit.changed:
        echo(f"{edit.environment} already points at {edit.platform} ({edit.path})")
        return
    default = "; it is the default environment" if edit.default else ""
    echo(f"added environment {edit.environment} (platform {edit.platform}) to {edit.path}{default}")
    echo(f"next: microstax login --env {edit.environment}")


@config.group(name="secret")
def secret() -> None:
    """Secrets in the OS keyring, for 'keyring:NAME' references in the config."""


@secret.command(name="set")
@click.argument("name")
@config_option
def secret_set(name: str, config_file: Path | None) -> None:
    """Store the secret read from stdin as keyring:NAME (never pass it as an argument)."""
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"secret for keyring:{name}: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CLIError("no secret given on stdin", exit_code=exit_codes.USAGE, code="usage")

    from ..identity.service import IdentityService

    async def body(service: IdentityService) -> None:
        await service.set_secret(name, value)

    run(config_file, body)
    echo(f"stored keyring:{name}")


@secret.command(name="delete")
@click.argument("name")
@config_option
def secret_delete(name: str, config_file: Path | None) -> None:
    """Remove keyring:NAME."""
    from ..identity.service import IdentityService

    async def body(service: IdentityService) -> bool:
        return await service.delete_secret(name)

    gone = run(config_file, body)
    echo(f"deleted keyring:{name}" if gone else f"keyring:{name} was not set")
