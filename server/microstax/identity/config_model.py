"""The user config's model: what ``identity/config.py`` reads from the TOML file (frozen).

``Config`` holds the ``[defaults]`` and the ``[environments.*]`` (each an ``EnvironmentConfig``
with its ``clusters`` and optional ``workload``) and where each value came from. Import these
from ``identity.config`` (which re-exports them); this module only keeps the model apart from
the reading, and light: kubectl's credential plugin reads a config on every call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import UnknownEnvironment

ENV_VAR_ENVIRONMENT = "MICROSTAX_ENV"
DEFAULT_PLATFORM = "http://127.0.0.1:8411"
DEFAULT_CLIENT_ID = "microstax-cli"
PLATFORM_SCOPES = ("openid", "offline_access", "federate")
OIDC_SCOPES = ("openid",)
FLAVOURS = ("microstax", "dex", "keycloak", "rfc8693")
LOGIN_METHODS = ("auto", "device", "browser")
SUBJECT_KINDS = ("kubernetes", "spiffe", "jwt")

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


def ca_files(config: Config) -> tuple[str, ...]:
    """Every CA file the configured environments name (one HTTP client serves them all)."""
    return tuple(sorted({e.ca_file for e in config.environments.values() if e.ca_file}))


def builtin_default() -> EnvironmentConfig:
    """The embedded platform on loopback, used when the config defines no environment."""
    return EnvironmentConfig(name="dev", issuer=DEFAULT_PLATFORM, description="the embedded platform on loopback")
