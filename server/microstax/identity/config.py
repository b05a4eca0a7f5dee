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
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..jose import loads_toml, read_limited
from .exceptions import ConfigError, UnknownEnvironment
from .paths import config_path

ENV_VAR_ENVIRONMENT = "MICROSTAX_ENV"
DEFAULT_PLATFORM = "http://127.0.0.1:8411"
DEFAULT_CLIENT_ID = "microstax-cli"
PLATFORM_SCOPES = ("openid", "offline_access", "federate")
OIDC_SCOPES = ("openid",)
FLAVOURS = ("microstax", "dex", "keycloak", "rfc8693")
LOGIN_METHODS = ("auto", "device", "browser")
SUBJECT_KINDS = ("kubernetes", "spiffe", "jwt")

#: muster's tokenExchange spellings, accepted as aliases
_EXCHANGE_ALIASES = {
    "dexTokenEndpoint": "token_endpoint", "tokenEndpoint": "token_endpoint",
    "dex_token_endpoint": "token_endpoint", "expectedIssuer": "expected_issuer",
    "connectorId": "connector_id", "requestedTokenType": "requested_token_type",
    "subjectTokenType": "subject_token_type", "clientId": "client_id",
    "clientSecret": "client_secret", "authMethod": "auth_method",
}


@dataclass(frozen=True, slots=True)
class Defaults:
    timeout: float = 10.0
    refresh_ahead: float = 0.25
    concurrency: int = 64
    #: in-flight exchanges per identity provider (origin of the token endpoint)
    concurrency_per_idp: int = 6
    login_method: str = "auto"
    login_timeout: float = 900.0
    catalog_ttl: float = 60.0
    #: a 429 whose Retry-After is at most this many seconds is retried once
    retry_after_max: float = 2.0


@dataclass(frozen=True, slots=True)
class ExchangeOverride:
    """A cluster's ``token_exchange`` block; ``None`` means "as the catalog / defaults say"."""

    flavour: str | None = None
    token_endpoint: str | None = None
    expected_issuer: str | None = None
    connector_id: str | None = None
    scopes: tuple[str, ...] | None = None
    audience: tuple[str, ...] | None = None
    resource: tuple[str, ...] | None = None
    requested_token_type: str | None = None
    subject_token_type: str | None = None
    client_id: str | None = None
    client_secret_ref: str | None = None
    auth_method: str | None = None


@dataclass(frozen=True, slots=True)
class ClusterEntry:
    """A cluster declared (or overridden) in the local config."""

    name: str
    issuer: str | None = None
    audience: str | None = None
    region: str | None = None
    header_budget: int | None = None
    services: tuple[str, ...] | None = None
    exchange: ExchangeOverride = field(default_factory=ExchangeOverride)


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """A workload signs in without a human: client credentials or a subject token file."""

    client_id: str | None = None
    client_secret_ref: str | None = None
    auth_method: str = "client_secret_basic"
    subject_token_file: str | None = None
    subject_token_type: str = "jwt"
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EnvironmentConfig:
    name: str
    issuer: str
    flavour: str = "microstax"
    platform: bool = True
    catalog: bool = True
    catalog_environment: str | None = None
    client_id: str = DEFAULT_CLIENT_ID
    client_secret_ref: str | None = None
    auth_method: str = "client_secret_basic"
    scopes: tuple[str, ...] = PLATFORM_SCOPES
    login_method: str | None = None
    trust_domain: str | None = None
    description: str | None = None
    default: bool = False
    clusters: Mapping[str, ClusterEntry] = field(default_factory=dict)
    workload: WorkloadConfig | None = None
    #: a CA certificate file (PEM) trusted for this environment's https endpoints, besides
    #: the system's trust (a platform's local CA from ``microstax platform init``)
    ca_file: str | None = None

    @property
    def catalog_name(self) -> str:
        return self.catalog_environment or self.name


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    exists: bool
    defaults: Defaults = field(default_factory=Defaults)
    environments: Mapping[str, EnvironmentConfig] = field(default_factory=dict)
    default_environment: str | None = None
    #: dotted key -> where its value came from (``default``, ``file:…``, ``env:…``, ``flag:…``)
    sources: Mapping[str, str] = field(default_factory=dict)

    def default_name(self, explicit: str | None = None) -> str:
        if explicit:
            return explicit
        env = os.environ.get(ENV_VAR_ENVIRONMENT)
        if env:
            return env
        if self.default_environment:
            return self.default_environment
        marked = [e.name for e in self.environments.values() if e.default]
        if marked:
            return marked[0]
        if "dev" in self.environments or not self.environments:
            return "dev"
        return next(iter(self.environments))

    def default_source(self, explicit: str | None = None) -> str:
        if explicit:
            return "flag:--env"
        if os.environ.get(ENV_VAR_ENVIRONMENT):
            return f"env:{ENV_VAR_ENVIRONMENT}"
        if self.default_environment:
            return self.sources.get("default_environment", "file")
        return "default"

    def environment(self, name: str | None = None) -> EnvironmentConfig:
        name = self.default_name(name)
        env = self.environments.get(name)
        if env is None:
            known = ", ".join(sorted(self.environments)) or "none"
            raise UnknownEnvironment(
                f"no environment named {name!r} (configured: {known})",
                hint=f"add [environments.{name}] with a platform or issuer URL to {self.path}",
                environment=name,
            )
        return env


# --- parsing ------------------------------------------------------------------------------


class _Reader:
    """Typed access to one TOML table, recording the source of each value read."""

    def __init__(self, table: Mapping[str, Any], prefix: str, origin: str, sources: dict[str, str]) -> None:
        self.table = dict(table)
        self.prefix = prefix
        self.origin = origin
        self.sources = sources
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _get(self, name: str) -> Any:
        self.used.add(name)
        value = self.table.get(name)
        if value is not None:
            self.sources[self.key(name)] = self.origin
        return value

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(f"{self.key(name)}: {message}", hint=f"fix {self.origin.removeprefix('file:')}")

    def text(self, name: str, default: str | None = None, *, choices: tuple[str, ...] | None = None) -> str | None:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, "must be a non-empty string")
        if choices and value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)} (not {value!r})")
        return value.strip()

    def url(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(name, f"must be an http(s) URL (not {value!r})")
        return value.rstrip("/")

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.error(name, f"must be a number from {low:g} to {high:g}")
        return float(value)

    def integer(self, name: str, default: int | None, *, low: int, high: int) -> int | None:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(name, f"must be a whole number from {low} to {high}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def words(self, name: str) -> tuple[str, ...] | None:
        """A list of strings, or one space-separated string (OAuth scope syntax)."""
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(w for v in value for w in v.split())
        raise self.error(name, "must be a list of strings")

    def secret_ref(self, name: str) -> str | None:
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, Mapping) and set(value) <= {"keyring", "file"} and len(value) == 1:
            (scheme, target), = value.items()
            value = f"{scheme}:{target}"
        if not isinstance(value, str) or not value.startswith(("keyring:", "file:")) or len(value.split(":", 1)[1]) == 0:
            raise ConfigError(
                f"{self.key(name)}: secrets are never written in the config file; give a "
                "reference such as 'keyring:NAME' or 'file:/path/to/secret'",
                hint="store the secret with 'microstax config secret set NAME' (reads stdin) and "
                "write keyring:NAME",
            )
        return value

    def table_of(self, name: str) -> Mapping[str, Any] | None:
        value = self._get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.error(name, "must be a table")
        return value

    def known(self, names: set[str]) -> None:
        """Fail on a misspelt key before any other check can point elsewhere."""
        unknown = sorted(set(self.table) - names)
        if unknown:
            raise ConfigError(f"{self.key(unknown[0])}: unknown setting",
                              hint=f"check the spelling (docs/client.md lists every key); fix {self.origin.removeprefix('file:')}")

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(f"{self.key(unknown[0])}: unknown setting",
                              hint=f"check the spelling (docs/client.md lists every key); fix {self.origin.removeprefix('file:')}")


def _exchange(table: Mapping[str, Any], prefix: str, origin: str, sources: dict[str, str]) -> ExchangeOverride:
    normal: dict[str, Any] = {}
    for key, value in table.items():
        normal[_EXCHANGE_ALIASES.get(key, key)] = value
    r = _Reader(normal, prefix, origin, sources)
    r.boolean("enabled", True)
    out = ExchangeOverride(
        flavour=r.text("flavour", choices=FLAVOURS),
        token_endpoint=r.url("token_endpoint"),
        expected_issuer=r.url("expected_issuer"),
        connector_id=r.text("connector_id"),
        scopes=r.words("scopes"),
        audience=r.words("audience"),
        resource=r.words("resource"),
        requested_token_type=r.text("requested_token_type"),
        subject_token_type=r.text("subject_token_type"),
        client_id=r.text("client_id"),
        client_secret_ref=r.secret_ref("client_secret"),
        auth_method=r.text("auth_method", choices=("client_secret_basic", "client_secret_post", "none")),
    )
    r.finish()
    return out


def _cluster(name: str, table: Mapping[str, Any], prefix: str, origin: str, sources: dict[str, str]) -> ClusterEntry:
    r = _Reader(table, prefix, origin, sources)
    exchange_table = r.table_of("token_exchange")
    entry = ClusterEntry(
        name=name,
        issuer=r.url("issuer"),
        audience=r.text("audience"),
        region=r.text("region"),
        header_budget=r.integer("header_budget", None, low=512, high=1 << 20),
        services=r.words("services"),
        exchange=_exchange(exchange_table, f"{prefix}.token_exchange", origin, sources)
        if exchange_table is not None else ExchangeOverride(),
    )
    top_endpoint = r.url("token_endpoint")
    r.finish()
    if top_endpoint and not entry.exchange.token_endpoint:
        entry = replace(entry, exchange=replace(entry.exchange, token_endpoint=top_endpoint))
    return entry


def _workload(table: Mapping[str, Any], prefix: str, origin: str, sources: dict[str, str]) -> WorkloadConfig:
    r = _Reader(table, prefix, origin, sources)
    out = WorkloadConfig(
        client_id=r.text("client_id"),
        client_secret_ref=r.secret_ref("client_secret"),
        auth_method=r.text("auth_method", "client_secret_basic",
                          choices=("client_secret_basic", "client_secret_post")) or "client_secret_basic",
        subject_token_file=r.text("subject_token_file"),
        subject_token_type=r.text("subject_token_type", "jwt", choices=SUBJECT_KINDS) or "jwt",
        scopes=r.words("scopes") or (),
    )
    r.finish()
    if bool(out.client_id) == bool(out.subject_token_file):
        raise ConfigError(f"{prefix}: give either client_id (client credentials) or "
                          "subject_token_file (a projected service-account token or JWT-SVID)")
    if out.client_id and not out.client_secret_ref:
        raise ConfigError(f"{prefix}.client_secret: client credentials need a secret reference")
    return out


def _environment(name: str, table: Mapping[str, Any], origin: str, sources: dict[str, str]) -> EnvironmentConfig:
    prefix = f"environments.{name}"
    r = _Reader(table, prefix, origin, sources)
    r.known({"platform", "issuer", "flavour", "clusters", "workload", "catalog", "catalog_environment",
             "client_id", "client_secret", "auth_method", "scopes", "login_method", "trust_domain",
             "description", "default", "ca_file"})
    platform_url = r.url("platform")
    issuer_url = r.url("issuer")
    if bool(platform_url) == bool(issuer_url):
        raise ConfigError(f"{prefix}: give exactly one of 'platform' (a MicroStax platform URL) "
                          "or 'issuer' (another identity provider's issuer URL)")
    is_platform = platform_url is not None
    flavour = r.text("flavour", "microstax" if is_platform else "rfc8693", choices=FLAVOURS) or "microstax"
    clusters_table = r.table_of("clusters") or {}
    clusters = {}
    for cname, ctable in clusters_table.items():
        if not isinstance(ctable, Mapping):
            raise ConfigError(f"{prefix}.clusters.{cname}: must be a table")
        clusters[cname] = _cluster(cname, ctable, f"{prefix}.clusters.{cname}", origin, sources)
    workload_table = r.table_of("workload")
    env = EnvironmentConfig(
        name=name,
        issuer=platform_url or issuer_url or "",
        flavour=flavour,
        platform=is_platform,
        catalog=r.boolean("catalog", is_platform),
        catalog_environment=r.text("catalog_environment"),
        client_id=r.text("client_id", DEFAULT_CLIENT_ID) or DEFAULT_CLIENT_ID,
        client_secret_ref=r.secret_ref("client_secret"),
        auth_method=r.text("auth_method", "client_secret_basic",
                          choices=("client_secret_basic", "client_secret_post", "none")) or "client_secret_basic",
        scopes=r.words("scopes") or (PLATFORM_SCOPES if flavour == "microstax" else OIDC_SCOPES),
        login_method=r.text("login_method", choices=LOGIN_METHODS),
        trust_domain=r.text("trust_domain"),
        description=r.text("description"),
        default=r.boolean("default", False),
        clusters=clusters,
        workload=_workload(workload_table, f"{prefix}.workload", origin, sources) if workload_table else None,
        ca_file=_ca_file(r, origin),
    )
    r.finish()
    return env


def _ca_file(r: _Reader, origin: str) -> str | None:
    """``ca_file``: ``~`` expanded; a relative path is relative to the config file's folder."""
    value = r.text("ca_file")
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and origin.startswith("file:"):
        path = Path(origin.removeprefix("file:")).parent / path
    return str(path)


def ca_files(config: Config) -> tuple[str, ...]:
    """Every CA file the configured environments name (one HTTP client serves them all)."""
    return tuple(sorted({e.ca_file for e in config.environments.values() if e.ca_file}))


def builtin_default() -> EnvironmentConfig:
    """The embedded platform on loopback, used when the config defines no environment."""
    return EnvironmentConfig(name="dev", issuer=DEFAULT_PLATFORM, description="the embedded platform on loopback")


def parse(doc: Mapping[str, Any], path: Path, *, origin: str | None = None, exists: bool = True) -> Config:
    origin = origin or f"file:{path}"
    sources: dict[str, str] = {}
    r = _Reader(doc, "", origin, sources)
    defaults_table = r.table_of("defaults") or {}
    d = _Reader(defaults_table, "defaults", origin, sources)
    base = Defaults()
    defaults = Defaults(
        timeout=d.number("timeout", base.timeout, low=0.05, high=600),
        refresh_ahead=d.number("refresh_ahead", base.refresh_ahead, low=0.0, high=0.9),
        concurrency=d.integer("concurrency", base.concurrency, low=1, high=1024) or base.concurrency,
        concurrency_per_idp=d.integer("concurrency_per_idp", base.concurrency_per_idp, low=1, high=256)
        or base.concurrency_per_idp,
        login_method=d.text("login_method", base.login_method, choices=LOGIN_METHODS) or base.login_method,
        login_timeout=d.number("login_timeout", base.login_timeout, low=5, high=3600),
        catalog_ttl=d.number("catalog_ttl", base.catalog_ttl, low=0, high=86400),
        retry_after_max=d.number("retry_after_max", base.retry_after_max, low=0, high=60),
    )
    d.finish()
    envs_table = r.table_of("environments") or {}
    environments: dict[str, EnvironmentConfig] = {}
    for name, table in envs_table.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"environments.{name}: must be a table")
        environments[name] = _environment(name, table, origin, sources)
    default_env = r.text("default_environment")
    r.finish()
    if not environments:
        environments["dev"] = builtin_default()
        sources["environments.dev.platform"] = "default"
    if default_env and default_env not in environments:
        raise ConfigError(f"default_environment: {default_env!r} is not a configured environment")
    return Config(path=path, exists=exists, defaults=defaults, environments=environments,
                  default_environment=default_env, sources=sources)


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Read the config file (``--config``, ``MICROSTAX_CONFIG``, or the platformdirs default).

    A missing default file is fine (the built-in ``dev`` environment); a missing file that was
    named explicitly is an error.
    """
    path, how = config_path(explicit)
    try:
        raw = read_limited(path)
    except FileNotFoundError:
        if how != "default":
            raise ConfigError(f"the config file {path} ({how}) does not exist",
                              hint="create it, or unset the override") from None
        return parse({}, path, origin="default", exists=False)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from exc
    try:
        doc = loads_toml(raw)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint=f"fix {path}") from exc
    return parse(doc, path)
