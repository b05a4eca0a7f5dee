"""``IdentityService``: the one facade the CLI, the daemon and the controller use.

    svc = IdentityService.from_config()                 # the user config file
    async with svc:
        await svc.login("dev", on_prompt=show_code)     # device flow / browser + PKCE
        tok = await svc.federate(FederateRequest(target="stx-eu-west-cluster"))
        outcomes = await svc.federate_many(FederateRequest(target="all"))
        status = await svc.status("dev")                # IdentityStatus (daemon shape)

Everything is async (one ``httpx.AsyncClient``); one instance belongs to one event loop. The
facade wires the parts, each the one owner of its state (``context``, ``environments``,
``sessions``, ``tokencache``, ``login``, ``federate``; ``status`` projects them; see
docs/architecture.md), and owns the event bus and the upkeep task: the parts report changes
through callbacks and never emit events themselves. ``subscribe`` delivers
``IdentityChanged``, ``ClusterStateChanged`` and ``LoginPrompted`` (the daemon's notifications).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx

from ..adapters.secrets import SealedStore, SecretStore
from . import config as config_mod
from .config import Config, EnvironmentConfig
from .context import Context
from .environments import Environments
from .exceptions import IdentityError
from .federate import Federation
from .login import BrowserOpener, Login, LoginMethod, PromptCallback, gui_available
from .models import (
    ClusterInfo,
    ClusterState,
    ClusterStateChanged,
    EnvironmentInfo,
    FederatedToken,
    FederateOutcome,
    FederateRequest,
    IdentityChanged,
    IdentityEvent,
    IdentityStatus,
    LoginPrompted,
    SessionInfo,
    SubjectTokenSource,
)
from .session import Session
from .sessions import Change, Sessions
from .status import cluster_state, snapshot
from .tokencache import TokenCache

log = logging.getLogger("microstax.identity")

Callback = Callable[[IdentityEvent], Awaitable[None] | None]


class IdentityService:
    """Environments, clusters, sign-in, federate, status. See the module docstring."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        config_file: str | os.PathLike[str] | None = None,
        secrets: SecretStore | None = None,
        http: httpx.AsyncClient | None = None,
        state_directory: str | os.PathLike[str] | None = None,
        open_browser: BrowserOpener | None = None,
        persist_tokens: bool = True,
    ) -> None:
        self._config_file = config_file
        self.ctx = Context(config if config is not None else config_mod.load(config_file),
                           secrets=secrets, http=http, state_directory=state_directory)
        self.environments = Environments(self.ctx)
        self.sessions = Sessions(self.ctx, self.environments, self._session_changed)
        self.tokens = TokenCache(self.ctx, self._cluster_changed, persist=persist_tokens)
        self.logins = Login(self.ctx, self.environments, self.sessions,
                            lambda prompt: self._emit(LoginPrompted(prompt)), open_browser)
        self.federation = Federation(self.ctx, self.environments, self.sessions, self.tokens)
        self._subscribers: list[Callback] = []
        self._background: asyncio.Task[None] | None = None
        # the shared parts, for callers that need them (kube config reads the catalog itself)
        self.state_dir = self.ctx.state_dir
        self.http, self.trust, self.locks = self.ctx.http, self.ctx.trust, self.ctx.locks
        self.exchanger, self.catalogs = self.ctx.exchanger, self.environments.catalogs

    # -- construction & lifetime ------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.ctx.config

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> IdentityService:
        return cls(config_mod.load(path), config_file=path, **kwargs)

    def reload_config(self, path: str | os.PathLike[str] | None = None) -> Config:
        """Re-read the config file (the daemon calls this on didChangeConfiguration)."""
        if path is not None:
            self._config_file = path
        self.ctx.config = config_mod.load(self._config_file)
        return self.ctx.config

    async def __aenter__(self) -> IdentityService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._background
            self._background = None
        self.tokens.cancel()
        await self.tokens.flush()
        if self.ctx.owns_http:
            await self.ctx.http.aclose()

    # -- events -----------------------------------------------------------------------------

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns the function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    async def _emit(self, event: IdentityEvent) -> None:
        for callback in list(self._subscribers):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("an identity event subscriber failed")

    async def _session_changed(self, env_name: str, change: Change, *, forget: bool = False,
                               reload: bool = False) -> None:
        if forget:
            await self.tokens.forget(env_name, keep_vault=True, reload=reload)
        env = self.environments.known(env_name)
        if env is not None:
            await self._emit(IdentityChanged(await self._status_offline(env), change))

    async def _cluster_changed(self, env_name: str, cluster: ClusterInfo, identity: str) -> None:
        if self._subscribers:
            await self._emit(ClusterStateChanged(cluster_state(self.tokens, env_name, cluster, identity)))

    # -- secrets ----------------------------------------------------------------------------

    def secret_store(self) -> SecretStore:
        return self.ctx.secret_store()

    def record_store(self) -> SealedStore:
        """Where sessions and exchanged tokens are kept (sealed files, key in the keyring)."""
        return self.ctx.record_store()

    async def set_secret(self, name: str, value: str) -> None:
        """Store a secret under ``keyring:NAME`` (``microstax config secret set``)."""
        await self.ctx.set_secret(name, value)

    async def delete_secret(self, name: str) -> bool:
        return await self.ctx.delete_secret(name)

    # -- environments & clusters ------------------------------------------------------------

    def environment(self, name: str | None = None) -> EnvironmentConfig:
        """A configured environment, or one a configured platform's catalog listed."""
        return self.environments.get(name)

    async def resolve_environment(self, name: str | None = None) -> EnvironmentConfig:
        """Like ``environment``, reading the platforms' catalogs for a name the config lacks."""
        return await self.environments.resolve(name)

    async def list_environments(self) -> list[EnvironmentInfo]:
        """The configured environments, then those the platforms' catalogs add."""
        return await self.environments.infos(self.sessions.peek)

    def catalog_error(self, env_name: str | None = None) -> str | None:
        """Why the last catalog read of the environment failed (clusters then come from the last
        good copy and the config), or ``None``."""
        return self.environments.catalog_error(env_name)

    async def list_clusters(self, env_name: str | None = None, *, fresh: bool = False) -> list[ClusterState]:
        env = await self.environments.resolve(env_name)
        clusters, _, _ = await self.environments.clusters(env, fresh=fresh)
        identity = await self.sessions.identity(env.name)
        await self.tokens.ensure_vault(env.name, with_tokens=False)
        return [cluster_state(self.tokens, env.name, c, identity) for c in clusters.values()]

    # -- sessions, sign-in, sign-out --------------------------------------------------------

    async def session(self, env_name: str | None = None) -> SessionInfo:
        """The current session (refreshed silently when close to expiry) or ``NotSignedIn``."""
        env = await self.environments.resolve(env_name)
        return (await self.sessions.get(env)).info()

    async def login(self, env_name: str | None = None, on_prompt: PromptCallback | None = None, *,
                    method: LoginMethod | None = None, open_browser: BrowserOpener | None = None,
                    force: bool = False, timeout: float | None = None) -> SessionInfo:
        """Sign a person in (device flow, or browser + PKCE on a loopback redirect); see
        ``Login.sign_in``."""
        env = await self.environments.resolve(env_name)
        session, new = await self.logins.sign_in(env, on_prompt, method, open_browser, force=force,
                                                 timeout=timeout or self.config.defaults.login_timeout)
        if new:
            await self._session_changed(env.name, "signed_in", forget=True)
        return session.info()

    async def login_workload(self, env_name: str | None = None, *, client_id: str | None = None,
                             client_secret_ref: str | None = None, subject: SubjectTokenSource | None = None,
                             scopes: Sequence[str] = ()) -> SessionInfo:
        """Sign a workload in without a human: client credentials (secret from the keyring or a
        file, given as a reference) or a subject token file read again on every use."""
        env = await self.environments.resolve(env_name)
        session = await self.sessions.sign_in_workload(env, client_id=client_id, client_secret_ref=client_secret_ref,
                                                       subject=subject, scopes=scopes)
        await self._session_changed(env.name, "signed_in", forget=True)
        return session.info()

    async def logout(self, env_name: str | None = None) -> IdentityStatus:
        """Remove what sign-in stored (session, exchanged tokens) and revoke the refresh token
        at the identity provider (RFC 7009) when it offers revocation. Best effort: when the
        IdP cannot be reached the session is still removed here, and the status says so
        (``revocation`` ``failed``)."""
        env = await self.environments.resolve(env_name)
        async with self.ctx.locks.hold(env.name, timeout=self.config.defaults.login_timeout):
            outcome = await self.sessions.end(env)
            await self.tokens.forget(env.name, keep_vault=False)
        status = replace(await self._status_offline(env), revocation=outcome[0], revocation_error=outcome[1])
        await self._emit(IdentityChanged(status, "signed_out"))
        return status

    # -- federate ---------------------------------------------------------------------------

    async def federate(self, request: FederateRequest) -> FederatedToken:
        """A verified token for one target (from the cache when fresh)."""
        return await self.federation.one(request)

    async def federate_many(self, request: FederateRequest,
                            targets: Sequence[str] | None = None) -> list[FederateOutcome]:
        """Federate to many clusters concurrently (``targets``, or ``request.target`` as ``all``
        or a comma-separated list); each outcome carries its token or its error."""
        return await self.federation.many(request, targets)

    # -- status -----------------------------------------------------------------------------

    async def status(self, env_name: str | None = None, *, refresh_catalog: bool = False) -> IdentityStatus:
        """Who is signed in, until when, and every cluster's token (no sign-in, no refresh)."""
        env = await self.environments.resolve(env_name)
        session = await self.sessions.peek(env.name)
        if session is not None and session.expired() and not session.renewable:
            session = None
        await self.tokens.ensure_vault(env.name, with_tokens=False)
        clusters, _, error = await self.environments.clusters(env, fresh=refresh_catalog)
        return snapshot(self.tokens, env.name, session, clusters.values(), error)

    async def _status_offline(self, env: EnvironmentConfig) -> IdentityStatus:
        """A status from what is known locally (for events: never waits on the network)."""
        session = self.sessions.memory.get(env.name)
        try:
            clusters, _, error = await self.environments.clusters(env, offline=True)
        except IdentityError:
            clusters, error = {}, None
        return snapshot(self.tokens, env.name, session, clusters.values(), error)

    # -- background upkeep (the daemon) -----------------------------------------------------

    def start_background(self, *, tick: float = 5.0) -> asyncio.Task[None]:
        """Refresh sessions silently before they expire, notice sessions another process
        ended or replaced, and report both as events (every ``tick`` seconds)."""
        if self._background is None or self._background.done():
            self._background = asyncio.ensure_future(self._upkeep(tick))
        return self._background

    async def _upkeep(self, tick: float) -> None:
        while True:
            await asyncio.sleep(tick)
            await self._upkeep_once()

    async def _upkeep_once(self) -> None:
        await self.sessions.upkeep()
        now = time.time()
        for key in self.tokens.newly_expired(now):
            env = self.environments.known(key.environment)
            if env is None:
                continue
            try:
                clusters, _, _ = await self.environments.clusters(env, offline=True)
            except IdentityError:
                continue
            if key.target in clusters:
                await self._emit(ClusterStateChanged(
                    cluster_state(self.tokens, env.name, clusters[key.target], key.identity)))

    @property
    def _sessions(self) -> dict[str, Session]:
        """The sessions in memory (``sessions.memory``; tests/bench/client_bench.py reads it)."""
        return self.sessions.memory


__all__ = ["IdentityService", "gui_available"]
