"""What every part of the identity service shares: the configuration, the one HTTP client, the
trust store, the exchanger, the locks and the secret stores (keyring + sealed records).

``Context`` owns no use case; ``IdentityService`` builds one and hands it to the parts
(``environments``, ``sessions``, ``tokencache``, ``login``, ``federate``). Blocking secret-store
calls run in worker threads through ``in_thread``, which translates the adapter's error.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from ..adapters import secrets as secrets_adapter
from ..adapters.secrets import SealedStore, SecretStore, SecretStoreUnavailable
from ..oauth.http import TrustError, make_async_client
from ..oauth.tokens import ClientAuth
from . import config as config_mod
from . import paths
from .config import Config, EnvironmentConfig
from .exceptions import BadRequest, ConfigError, KeyringUnavailable, SecretNotFound
from .federation import Exchanger
from .locks import EnvironmentLocks
from .trust import TrustStore

_T = TypeVar("_T")


def make_http(config: Config) -> httpx.AsyncClient:
    """The one client: our timeouts and pool limits; TLS trust = the system's plus every
    environment's ``ca_file``."""
    defaults = config.defaults
    try:
        return make_async_client(
            timeout=httpx.Timeout(defaults.timeout, connect=min(defaults.timeout, 5.0)),
            limits=httpx.Limits(max_connections=max(100, defaults.concurrency * 2),
                                max_keepalive_connections=max(20, defaults.concurrency_per_idp * 4)),
            ca_files=config_mod.ca_files(config))
    except TrustError as exc:
        raise ConfigError(f"ca_file: {exc.message}",
                          hint=f"point ca_file at the CA certificate (PEM) in {config.path}") from None


def client_auth(client_id: str, secret: str | None, method: str | None) -> ClientAuth:
    """How a client authenticates: none without a secret, else post or (default) basic."""
    if secret is None:
        return ClientAuth(client_id, None, "none")
    if method == "client_secret_post":
        return ClientAuth(client_id, secret, "client_secret_post")
    return ClientAuth(client_id, secret, "client_secret_basic")


class Context:
    """The shared wiring of one ``IdentityService`` (one event loop)."""

    def __init__(self, config: Config, *, secrets: SecretStore | None,
                 http: httpx.AsyncClient | None,
                 state_directory: str | os.PathLike[str] | None) -> None:
        self.config = config
        self.state_dir = paths.state_dir(state_directory)
        self._secrets = secrets
        self._records: SealedStore | None = None
        defaults = config.defaults
        self.owns_http = http is None
        self.http = http or make_http(config)
        self.trust = TrustStore(self.http, timeout=defaults.timeout)
        self.locks = EnvironmentLocks(self.state_dir / "locks")
        self.exchanger = Exchanger(self.http, self.trust, self.resolve_secret,
                                   timeout=defaults.timeout, retry_after_max=defaults.retry_after_max)

    # -- secret stores ------------------------------------------------------------------------

    def secret_store(self) -> SecretStore:
        if self._secrets is None:
            try:
                self._secrets = secrets_adapter.default_store(self.state_dir)
            except SecretStoreUnavailable as exc:
                raise KeyringUnavailable(exc.message, hint=exc.hint) from exc
        return self._secrets

    def record_store(self) -> SealedStore:
        """Where sessions and exchanged tokens are kept: sealed files in the state dir whose
        key is one small entry of the secret store (a keyring entry holds too little for them)."""
        if self._records is None:
            self._records = SealedStore(self.secret_store(), self.state_dir / "sealed")
        return self._records

    def vault_store(self) -> SecretStore | None:
        """The record store, or ``None`` when there is no keyring (tokens then live in memory)."""
        try:
            return self.record_store()
        except KeyringUnavailable:
            return None

    async def in_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return await asyncio.to_thread(fn, *args)
        except SecretStoreUnavailable as exc:
            raise KeyringUnavailable(exc.message, hint=exc.hint) from exc

    async def resolve_secret(self, ref: str) -> str | None:
        store = self.secret_store() if ref.startswith("keyring:") else None
        try:
            return await self.in_thread(secrets_adapter.read_secret_reference, ref, store)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    async def set_secret(self, name: str, value: str) -> None:
        if not name or ":" in name or len(name) > 200:
            raise BadRequest("a secret name is a short name without ':'")
        await self.in_thread(self.secret_store().set, name, value)

    async def delete_secret(self, name: str) -> bool:
        return await self.in_thread(self.secret_store().delete, name)

    async def env_client_auth(self, env: EnvironmentConfig) -> ClientAuth:
        """The environment's own client (its secret read from its reference, if any)."""
        secret = None
        if env.client_secret_ref:
            secret = await self.resolve_secret(env.client_secret_ref)
            if secret is None:
                raise SecretNotFound(f"{env.name}: the client secret {env.client_secret_ref!r} is not set",
                                     hint="store it with 'microstax config secret set NAME'")
        return client_auth(env.client_id, secret, env.auth_method)


__all__ = ["Context", "client_auth", "make_http"]
