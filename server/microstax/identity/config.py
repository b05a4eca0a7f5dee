"""The user config file shared by the CLI and the daemon (TOML), and where each value came from.

    default_environment = "dev"

    [defaults]
    timeout = 10.0            # seconds per request to an identity provider
    refresh_ahead = 0.25      # re-exchange when this fraction of a token's lifetime is left
    concurrency = 64          # parallel exchanges for --target all (6 per identity provider)

    [environments.dev]
    platform = "http://127.0.0.1:8411"        # our platform: discovery, catalog, exchange

    [environments.local-tls]
    platform = "https://127.0.0.1:8443"
    ca_file = "~/.local/share/microstax/platform/tls/ca.crt"   # trusted besides the system's

    [environments.corp]
    issuer = "https://sso.example.com/realms/corp"   # an IdP teams already run
    flavour = "keycloak"
    client_id = "microstax-cli"
    catalog = false

    [environments.corp.clusters.kc-east]
    audience = "kc-east"
    [environments.corp.clusters.kc-east.token_exchange]
    token_endpoint = "https://sso.example.com/realms/corp/protocol/openid-connect/token"
    client_id = "microstax-exchange"
    client_secret = "keyring:kc-east-exchange"     # a reference, never the secret

Secrets are only ever references: ``keyring:NAME`` (an entry of the OS keyring under the
service ``microstax``; ``microstax config secret set NAME`` writes one) or ``file:/path``.
An inline value is refused. docs/client.md documents every key.

The dataclasses are in ``config_model`` (re-exported here); this module reads the file through
the one TOML table reader (``jose.tables``) and records where each value came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..jose import TomlFileMissing, TomlTable, TomlTableError, read_toml_file
from .config_model import (
    DEFAULT_CLIENT_ID,
    DEFAULT_PLATFORM,
    ENV_VAR_ENVIRONMENT,
    FLAVOURS,
    LOGIN_METHODS,
    OIDC_SCOPES,
    PLATFORM_SCOPES,
    SUBJECT_KINDS,
    ClusterEntry,
    Config,
    Defaults,
    EnvironmentConfig,
    ExchangeOverride,
    WorkloadConfig,
    builtin_default,
    ca_files,
)
from .exceptions import ConfigError
from .paths import config_path

#: muster's tokenExchange spellings, accepted as aliases
_EXCHANGE_ALIASES = {
    "dexTokenEndpoint": "token_endpoint", "tokenEndpoint": "token_endpoint",
    "dex_token_endpoint": "token_endpoint", "expectedIssuer": "expected_issuer",
    "connectorId": "connector_id", "requestedTokenType": "requested_token_type",
    "subjectTokenType": "subject_token_type", "clientId": "client_id",
    "clientSecret": "client_secret", "authMethod": "auth_method",
}
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
_HINT = "docs/client.md documents every key and its values"


class _Reader(TomlTable):
    """A table of the user config: strings come stripped; word lists and secret references."""

    def get(self, name: str, default: Any = None) -> Any:
        value = super().get(name, default)
        return value.strip() if isinstance(value, str) else value

    def words(self, name: str) -> tuple[str, ...] | None:
        """A list of strings, or one space-separated string (OAuth scope syntax), split into
        words; ``None`` when absent ("as the catalog or the defaults say")."""
        if name not in self.data:
            self.used.add(name)
            return None
        return tuple(w for item in self.strs(name, lone="words") for w in item.split())

    def secret_ref(self, name: str) -> str | None:
        """``keyring:NAME`` or ``file:/path`` (or ``{keyring = "NAME"}``); never a secret."""
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, Mapping) and set(value) <= {"keyring", "file"} and len(value) == 1:
            (scheme, target), = value.items()
            value = f"{scheme}:{target}"
        if not isinstance(value, str) or not value.startswith(("keyring:", "file:")) or not value.split(":", 1)[1]:
            raise self.fail(name, "secrets are never written in the config file; give a reference "
                            "such as 'keyring:NAME' or 'file:/path/to/secret'",
                            hint="store the secret with 'microstax config secret set NAME' (reads "
                            "stdin) and write keyring:NAME")
        return value


def _exchange(found: _Reader) -> ExchangeOverride:
    r = found.child({_EXCHANGE_ALIASES.get(k, k): v for k, v in found.data.items()}, found.where)
    r.flag("enabled", True)
    out = ExchangeOverride(
        flavour=r.text("flavour", choices=FLAVOURS),
        token_endpoint=r.url("token_endpoint", query=True),
        expected_issuer=r.url("expected_issuer"),
        connector_id=r.text("connector_id"),
        scopes=r.words("scopes"),
        audience=r.words("audience"),
        resource=r.words("resource"),
        requested_token_type=r.text("requested_token_type"),
        subject_token_type=r.text("subject_token_type"),
        client_id=r.text("client_id"),
        client_secret_ref=r.secret_ref("client_secret"),
        auth_method=r.text("auth_method", choices=_AUTH_METHODS),
    )
    r.done()
    return out


def _cluster(name: str, r: _Reader) -> ClusterEntry:
    exchange = r.optional_table("token_exchange")
    entry = ClusterEntry(
        name=name,
        issuer=r.url("issuer"),
        audience=r.text("audience"),
        region=r.text("region"),
        header_budget=r.integer("header_budget", None, minimum=512, maximum=1 << 20),
        services=r.words("services"),
        exchange=_exchange(exchange) if exchange is not None else ExchangeOverride(),
    )
    top_endpoint = r.url("token_endpoint", query=True)
    r.done()
    if top_endpoint and not entry.exchange.token_endpoint:
        entry = replace(entry, exchange=replace(entry.exchange, token_endpoint=top_endpoint))
    return entry


def _workload(r: _Reader) -> WorkloadConfig:
    out = WorkloadConfig(
        client_id=r.text("client_id"),
        client_secret_ref=r.secret_ref("client_secret"),
        auth_method=r.text("auth_method", "client_secret_basic", choices=_AUTH_METHODS[:2]),
        subject_token_file=r.text("subject_token_file"),
        subject_token_type=r.text("subject_token_type", "jwt", choices=SUBJECT_KINDS),
        scopes=r.words("scopes") or (),
    )
    r.done()
    if bool(out.client_id) == bool(out.subject_token_file):
        raise r.fail(None, "give either client_id (client credentials) or "
                     "subject_token_file (a projected service-account token or JWT-SVID)")
    if out.client_id and not out.client_secret_ref:
        raise r.fail("client_secret", "client credentials need a secret reference")
    return out


def _environment(name: str, r: _Reader, config_dir: Path | None) -> EnvironmentConfig:
    r.expect({"platform", "issuer", "flavour", "clusters", "workload", "catalog", "catalog_environment",
              "client_id", "client_secret", "auth_method", "scopes", "login_method", "trust_domain",
              "description", "default", "ca_file"})
    platform_url = r.url("platform")
    issuer_url = r.url("issuer")
    if bool(platform_url) == bool(issuer_url):
        raise r.fail(None, "give exactly one of 'platform' (a MicroStax platform URL) "
                     "or 'issuer' (another identity provider's issuer URL)")
    is_platform = platform_url is not None
    flavour = r.text("flavour", "microstax" if is_platform else "rfc8693", choices=FLAVOURS)
    clusters = {cname: _cluster(cname, ct) for cname, ct in r.named_tables("clusters").items()}
    workload = r.optional_table("workload")
    env = EnvironmentConfig(
        name=name,
        issuer=platform_url or issuer_url or "",
        flavour=flavour,
        platform=is_platform,
        catalog=r.flag("catalog", is_platform),
        catalog_environment=r.text("catalog_environment"),
        client_id=r.text("client_id", DEFAULT_CLIENT_ID),
        client_secret_ref=r.secret_ref("client_secret"),
        auth_method=r.text("auth_method", "client_secret_basic", choices=_AUTH_METHODS),
        scopes=r.words("scopes") or (PLATFORM_SCOPES if flavour == "microstax" else OIDC_SCOPES),
        login_method=r.text("login_method", choices=LOGIN_METHODS),
        trust_domain=r.text("trust_domain"),
        description=r.text("description"),
        default=r.flag("default", False),
        clusters=clusters,
        workload=_workload(workload) if workload is not None and workload.data else None,
        ca_file=_ca_file(r, config_dir),
    )
    r.done()
    return env


def _ca_file(r: _Reader, config_dir: Path | None) -> str | None:
    """``ca_file``: ``~`` expanded; a relative path is relative to the config file's folder."""
    value = r.text("ca_file")
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and config_dir is not None:
        path = config_dir / path
    return str(path)


def parse(doc: Mapping[str, Any], path: Path, *, origin: str | None = None, exists: bool = True) -> Config:
    """Validate a parsed config document. ``origin`` (``file:…`` or ``default``) is recorded
    as the source of each value read. Raises ``ConfigError`` naming the file and the key."""
    origin = origin or f"file:{path}"
    sources: dict[str, str] = {}
    in_file = origin.startswith("file:")
    root = _Reader(doc, file=origin.removeprefix("file:") if in_file else str(path),
                   on_read=lambda key: sources.__setitem__(key, origin))
    try:
        return _parse(root, path, exists, sources, Path(root.file).parent if in_file else None)
    except TomlTableError as exc:
        raise ConfigError(exc.message, hint=exc.hint or _HINT) from None


def _parse(r: _Reader, path: Path, exists: bool, sources: dict[str, str],
           config_dir: Path | None) -> Config:
    d = r.table("defaults")
    base = Defaults()
    defaults = Defaults(
        timeout=d.number("timeout", base.timeout, minimum=0.05, maximum=600),
        refresh_ahead=d.number("refresh_ahead", base.refresh_ahead, minimum=0.0, maximum=0.9),
        concurrency=d.integer("concurrency", base.concurrency, minimum=1, maximum=1024),
        concurrency_per_idp=d.integer("concurrency_per_idp", base.concurrency_per_idp, minimum=1, maximum=256),
        login_method=d.text("login_method", base.login_method, choices=LOGIN_METHODS),
        login_timeout=d.number("login_timeout", base.login_timeout, minimum=5, maximum=3600),
        catalog_ttl=d.number("catalog_ttl", base.catalog_ttl, minimum=0, maximum=86400),
        retry_after_max=d.number("retry_after_max", base.retry_after_max, minimum=0, maximum=60),
    )
    d.done()
    environments = {name: _environment(name, et, config_dir)
                    for name, et in r.named_tables("environments").items()}
    default_env = r.text("default_environment")
    r.done()
    if not environments:
        environments["dev"] = builtin_default()
        sources["environments.dev.platform"] = "default"
    if default_env and default_env not in environments:
        raise r.fail("default_environment", f"{default_env!r} is not a configured environment")
    return Config(path=path, exists=exists, defaults=defaults, environments=environments,
                  default_environment=default_env, sources=sources)


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Read the config file (``--config``, ``MICROSTAX_CONFIG``, or the platformdirs default).

    A missing default file is fine (the built-in ``dev`` environment); a missing file that was
    named explicitly is an error.
    """
    path, how = config_path(explicit)
    try:
        doc = read_toml_file(path)
    except TomlFileMissing as exc:
        if how == "default":
            return parse({}, path, origin="default", exists=False)
        raise ConfigError(f"{exc.message} (named by {how})",
                          hint="create it, or unset the override") from None
    except TomlTableError as exc:
        raise ConfigError(exc.message, hint=f"fix {path}") from exc
    return parse(doc, path)


__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_PLATFORM", "ENV_VAR_ENVIRONMENT", "FLAVOURS", "LOGIN_METHODS",
           "OIDC_SCOPES", "PLATFORM_SCOPES", "SUBJECT_KINDS", "ClusterEntry", "Config", "Defaults",
           "EnvironmentConfig", "ExchangeOverride", "WorkloadConfig", "builtin_default", "ca_files",
           "config_path", "load", "parse"]
