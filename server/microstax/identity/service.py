"""``IdentityService``: the one facade the CLI, the daemon and the controller use.

    svc = IdentityService.from_config()                 # the user config file
    async with svc:
        await svc.login("dev", on_prompt=show_code)     # device flow / browser + PKCE
        tok = await svc.federate(FederateRequest(target="stx-eu-west-cluster"))
        outcomes = await svc.federate_many(FederateRequest(target="all"))
        status = await svc.status("dev")                # IdentityStatus (daemon shape)

Everything is async (one ``httpx.AsyncClient``); blocking keyring calls run in worker threads.
One instance belongs to one event loop. ``subscribe`` delivers ``IdentityChanged``,
``ClusterStateChanged`` and ``LoginPrompted`` events (the daemon's notifications).

Guarantees: one sign-in (or session refresh) at a time per environment across processes
(``locks.py``); silent refresh before expiry; exchanged tokens cached per (identity,
environment, target, service, scopes, audience) with refresh-ahead and single-flight; a failed
refresh serves the previous token until it expires and reports the failure; in a fleet
federate each cluster succeeds or fails on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from ..adapters import secrets as secrets_adapter
from ..adapters.secrets import SealedStore, SecretStore, SecretStoreUnavailable
from ..jose import (
    PQ_HEADER,
    MalformedToken,
    ParsedToken,
    Verdict,
    describe,
    numeric_date,
    parse,
    read_limited_text,
)
from ..oauth import device as device_flow
from ..oauth import revocation
from ..oauth.client_credentials import client_credentials
from ..oauth.exceptions import OAuthError, OAuthErrorResponse, TransportError
from ..oauth.http import TrustError, make_async_client
from ..oauth.pkce import authorization_code_login
from ..oauth.tokens import (
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_JWT,
    ClientAuth,
    TokenResponse,
    refresh,
)
from . import config as config_mod
from . import paths
from .cache import CacheEntry, CacheKey, TokenVault
from .catalog import Catalog, CatalogClient, merge_clusters
from .config import Config, EnvironmentConfig
from .exceptions import (
    BadRequest,
    ConfigError,
    IdentityError,
    IdpUnavailable,
    InvalidSubjectToken,
    KeyringUnavailable,
    LoginFailed,
    LoginTimeout,
    NotSignedIn,
    SecretNotFound,
    UnknownCluster,
    UnknownEnvironment,
)
from .federation import Exchanger, SubjectToken, failure_of, subject_from_jwt
from .locks import EnvironmentLocks, file_lock
from .models import (
    ClusterInfo,
    ClusterState,
    ClusterStateChanged,
    DevicePrompt,
    EnvironmentInfo,
    Failure,
    FederatedToken,
    FederateOutcome,
    FederateRequest,
    IdentityChanged,
    IdentityEvent,
    IdentityStatus,
    LoginPrompted,
    SessionInfo,
    SubjectTokenSource,
    TokenState,
)
from .session import Session, SessionStore
from .trust import IssuerMetadata, TrustStore

log = logging.getLogger("microstax.identity")
_T = TypeVar("_T")

Callback = Callable[[IdentityEvent], Awaitable[None] | None]
PromptCallback = Callable[[DevicePrompt], Awaitable[None] | None]
BrowserOpener = Callable[[str], Awaitable[object] | object]
LoginMethod = Literal["auto", "device", "browser"]


def gui_available() -> bool:
    """Whether opening a browser can work here (never in CI, never without a display)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("MICROSTAX_NO_BROWSER"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _default_browser(url: str) -> bool:
    if not gui_available():
        return False
    try:
        return webbrowser.open(url, new=1)
    except webbrowser.Error:
        return False


def _verdict_of(parsed: ParsedToken) -> Verdict:
    return Verdict(True, "verified", "verified" if PQ_HEADER in parsed.header else "absent")


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
        self.config = config if config is not None else config_mod.load(config_file)
        self.state_dir = paths.state_dir(state_directory)
        self._secrets = secrets
        self._records: SealedStore | None = None
        defaults = self.config.defaults
        self._owns_http = http is None
        self.http = http or self._make_http(self.config)
        self.trust = TrustStore(self.http, timeout=defaults.timeout)
        self.catalogs = CatalogClient(self.http, self.state_dir, timeout=defaults.timeout,
                                      ttl=defaults.catalog_ttl)
        self.locks = EnvironmentLocks(self.state_dir / "locks")
        self.exchanger = Exchanger(self.http, self.trust, self._resolve_secret,
                                   timeout=defaults.timeout, retry_after_max=defaults.retry_after_max)
        self.open_browser = open_browser
        self.persist_tokens = persist_tokens
        self._sessions: dict[str, Session] = {}
        #: per environment, the stored session's generation as this process last read or wrote
        #: it: a session is served from memory only while the store still says the same
        self._session_gens: dict[str, object | None] = {}
        self._entries: dict[CacheKey, CacheEntry] = {}
        self._vault_loaded: set[str] = set()
        self._failures: dict[tuple[str, str], Failure] = {}
        self._inflight: dict[CacheKey, asyncio.Future[CacheEntry]] = {}
        self._subscribers: list[Callback] = []
        self._catalog_errors: dict[str, str] = {}
        self._background: asyncio.Task[None] | None = None
        self._notified_expired: set[CacheKey] = set()
        self._vault_meta: dict[str, dict[str, dict[str, Any]]] = {}
        #: environments learnt from the catalogs of configured platforms
        self._catalog_envs: dict[str, EnvironmentConfig] = {}
        #: merged clusters per environment, keyed by the (config, catalog, error) they came from
        self._merged: dict[str, tuple[tuple[Any, ...], tuple[dict[str, ClusterInfo], str | None, str | None]]] = {}

    # -- construction & lifetime ------------------------------------------------------------

    @staticmethod
    def _make_http(config: Config) -> httpx.AsyncClient:
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

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> IdentityService:
        return cls(config_mod.load(path), config_file=path, **kwargs)

    def reload_config(self, path: str | os.PathLike[str] | None = None) -> Config:
        """Re-read the config file (the daemon calls this on didChangeConfiguration)."""
        if path is not None:
            self._config_file = path
        self.config = config_mod.load(self._config_file)
        return self.config

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
        for fut in list(self._inflight.values()):
            fut.cancel()
        if self._owns_http:
            await self.http.aclose()

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

    # -- secrets ----------------------------------------------------------------------------

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

    async def _in_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return await asyncio.to_thread(fn, *args)
        except SecretStoreUnavailable as exc:
            raise KeyringUnavailable(exc.message, hint=exc.hint) from exc

    async def _resolve_secret(self, ref: str) -> str | None:
        store = self.secret_store() if ref.startswith("keyring:") else None
        try:
            return await self._in_thread(secrets_adapter.read_secret_reference, ref, store)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    async def set_secret(self, name: str, value: str) -> None:
        """Store a secret under ``keyring:NAME`` (``microstax config secret set``)."""
        if not name or ":" in name or len(name) > 200:
            raise BadRequest("a secret name is a short name without ':'")
        await self._in_thread(self.secret_store().set, name, value)

    async def delete_secret(self, name: str) -> bool:
        return await self._in_thread(self.secret_store().delete, name)

    # -- environments & clusters ------------------------------------------------------------

    def environment(self, name: str | None = None) -> EnvironmentConfig:
        """A configured environment, or one a configured platform's catalog listed."""
        try:
            return self.config.environment(name)
        except UnknownEnvironment:
            found = self._catalog_envs.get(self.config.default_name(name))
            if found is None:
                raise
            return found

    async def resolve_environment(self, name: str | None = None) -> EnvironmentConfig:
        """Like ``environment``, reading the platforms' catalogs for a name the config lacks."""
        return await self._env(name)

    async def _env(self, name: str | None) -> EnvironmentConfig:
        try:
            return self.environment(name)
        except UnknownEnvironment:
            await self._learn_catalog_environments()
            return self.environment(name)

    async def _learn_catalog_environments(self) -> None:
        """Environments that the configured platforms' catalogs list and the config does not
        (e.g. ``staging`` next to a configured ``dev``): same platform, own sign-in."""
        platforms = [e for e in self.config.environments.values() if e.platform and e.catalog]
        results = await asyncio.gather(*(self._catalog(e) for e in platforms), return_exceptions=True)
        for env, result in zip(platforms, results, strict=True):
            if isinstance(result, BaseException) or result[0] is None:
                continue
            for name, cat_env in result[0].environments.items():
                if name in self.config.environments or name in self._catalog_envs:
                    continue
                self._catalog_envs[name] = replace(
                    env, name=name, catalog_environment=name, default=False, clusters={},
                    description=cat_env.description, workload=None, trust_domain=None,
                    login_method=env.login_method)

    def default_environment(self) -> str:
        return self.config.default_name()

    async def list_environments(self) -> list[EnvironmentInfo]:
        """The configured environments, then those the platforms' catalogs add."""
        await self._learn_catalog_environments()
        default = self.config.default_name()
        out = []
        for env in [*self.config.environments.values(), *self._catalog_envs.values()]:
            session = await self._peek_session(env.name)
            configured = env.name in self.config.environments
            out.append(EnvironmentInfo(
                name=env.name, issuer=env.issuer, default=env.name == default,
                signed_in=session is not None and (not session.expired() or session.renewable),
                description=env.description, flavour=env.flavour,
                source=(self.config.sources.get(f"environments.{env.name}.platform")
                        or self.config.sources.get(f"environments.{env.name}.issuer", "config"))
                if configured else f"catalog:{env.issuer}",
            ))
        return out

    async def metadata(self, env: EnvironmentConfig) -> IssuerMetadata:
        try:
            return await self.trust.metadata(env.issuer)
        except OAuthError as exc:
            raise IdpUnavailable(f"{env.name}: cannot read the identity provider's metadata at "
                                 f"{env.issuer}: {exc.message}",
                                 hint=exc.hint or "check that it is running and the URL is right",
                                 environment=env.name, endpoint=exc.endpoint) from exc

    async def _catalog(self, env: EnvironmentConfig, *, fresh: bool = False,
                       offline: bool = False) -> tuple[Catalog | None, str | None]:
        """The platform catalog of ``env`` (or the last good copy) and why it is stale, if so."""
        if not env.catalog:
            return None, None
        if offline:
            return self.catalogs.cached(env.issuer), self._catalog_errors.get(env.name)

        async def url() -> str:
            meta = await self.trust.metadata(env.issuer)
            return meta.catalog_endpoint or env.issuer.rstrip("/") + "/v1/catalog"

        try:
            catalog = await self.catalogs.get(env.issuer, url, fresh=fresh)
            self._catalog_errors.pop(env.name, None)
            return catalog, None
        except OAuthError as exc:
            reason = f"the platform catalog of {env.name} is unavailable: {exc.message}"
            self._catalog_errors[env.name] = reason
            log.warning("%s", reason)
            return self.catalogs.cached(env.issuer), reason

    async def _clusters(self, env: EnvironmentConfig, *, fresh: bool = False,
                        offline: bool = False) -> tuple[dict[str, ClusterInfo], str | None, str | None]:
        """(clusters by name, trust domain, catalog error)."""
        catalog, error = await self._catalog(env, fresh=fresh, offline=offline)
        memo_key = (env, catalog, error)
        memo = self._merged.get(env.name)
        if memo is not None and memo[0][0] is env and memo[0][1] is catalog and memo[0][2] == error:
            return memo[1]
        result = self._merge(env, catalog, error)
        self._merged[env.name] = (memo_key, result)
        return result

    def _merge(self, env: EnvironmentConfig, catalog: Catalog | None,
               error: str | None) -> tuple[dict[str, ClusterInfo], str | None, str | None]:
        cat_env = catalog.environments.get(env.catalog_name) if catalog else None
        if catalog is not None and cat_env is None and error is None and env.catalog:
            error = f"the platform catalog has no environment named {env.catalog_name!r}"
        clusters = merge_clusters(env, cat_env, catalog.issuer if catalog else env.issuer)
        if catalog is not None and catalog.stale and error is not None:
            clusters = {n: replace(c, status="unknown") for n, c in clusters.items()}
        trust_domain = env.trust_domain or (cat_env.trust_domain if cat_env else None)
        return clusters, trust_domain, error

    async def resolve_cluster(self, target: str, env_name: str | None = None) -> ClusterInfo:
        env = await self._env(env_name)
        clusters, _, error = await self._clusters(env)
        return self._pick(env, clusters, target, error)

    def _pick(self, env: EnvironmentConfig, clusters: dict[str, ClusterInfo], target: str,
              error: str | None) -> ClusterInfo:
        cluster = clusters.get(target)
        if cluster is None:
            if error and not clusters:
                raise IdpUnavailable(error, hint="retry when the platform is reachable",
                                     environment=env.name)
            known = ", ".join(sorted(clusters)) or "none"
            raise UnknownCluster(f"no cluster named {target!r} in environment {env.name} (known: {known})",
                                 hint=f"run 'microstax cluster list --env {env.name}'",
                                 environment=env.name, cluster=target)
        return cluster

    def catalog_error(self, env_name: str | None = None) -> str | None:
        """Why the last catalog read of the environment failed (clusters then come from the last
        good copy and the config), or ``None``."""
        return self._catalog_errors.get(self.environment(env_name).name)

    async def list_clusters(self, env_name: str | None = None, *, fresh: bool = False) -> list[ClusterState]:
        env = await self._env(env_name)
        clusters, _, _ = await self._clusters(env, fresh=fresh)
        identity = await self._identity_hint(env.name)
        await self._ensure_vault(env.name, with_tokens=False)
        return [self._cluster_state(env.name, c, identity) for c in clusters.values()]

    # -- sessions ---------------------------------------------------------------------------

    async def _peek_session(self, env_name: str) -> Session | None:
        """The stored session, without refreshing; ``None`` when there is none or no keyring."""
        try:
            return await self._current_session(env_name)
        except KeyringUnavailable:
            return None

    def _session_changed(self, env_name: str) -> bool:
        """Whether another process saved or deleted the session since this one last read or
        wrote it (one ``stat`` of the session's sealed file)."""
        if env_name not in self._session_gens:
            return True
        try:
            return SessionStore(self.record_store()).generation(env_name) != self._session_gens[env_name]
        except (KeyringUnavailable, OSError):
            return True

    async def _current_session(self, env_name: str) -> Session | None:
        """The session: from memory while the stored one is unchanged, else read again (a
        ``microstax logout`` or login in another process ends or replaces it here too)."""
        if not self._session_changed(env_name):
            return self._sessions.get(env_name)
        return await self._adopt_stored_session(env_name)

    async def _adopt_stored_session(self, env_name: str) -> Session | None:
        """Read the stored session; when another process changed it, forget the exchanged
        tokens of an identity that is gone and report the change (``IdentityChanged``)."""
        known = env_name in self._session_gens
        before = self._sessions.get(env_name)
        session = await self._load_session(env_name)
        if not known or before == session:
            return session
        same = (before is not None and session is not None
                and (before.issuer, before.subject) == (session.issuer, session.subject))
        if not same:
            await self._forget_tokens(env_name, keep_vault=True)
            self._vault_loaded.discard(env_name)
        reason: Literal["signed_out", "signed_in", "refreshed"] = (
            "signed_out" if session is None else "refreshed" if same else "signed_in")
        log.info("%s: the session changed in another process (%s)", env_name, reason.replace("_", " "))
        env = self.config.environments.get(env_name) or self._catalog_envs.get(env_name)
        if env is not None:
            await self._emit(IdentityChanged(await self._status_offline(env), reason))
        return session

    async def _load_session(self, env_name: str) -> Session | None:
        store = SessionStore(self.record_store())

        def read() -> tuple[Session | None, object | None]:
            generation = store.generation(env_name)  # first: a write in between reads again later
            return store.load(env_name), generation

        session, self._session_gens[env_name] = await self._in_thread(read)
        if session is None:
            self._sessions.pop(env_name, None)
        else:
            self._sessions[env_name] = session
        return session

    async def _save_session(self, session: Session) -> None:
        store = SessionStore(self.record_store())

        def write() -> object | None:
            store.save(session)
            return store.generation(session.environment)

        self._session_gens[session.environment] = await self._in_thread(write)
        self._sessions[session.environment] = session

    async def _delete_session(self, env_name: str) -> None:
        await self._in_thread(SessionStore(self.record_store()).delete, env_name)
        self._sessions.pop(env_name, None)
        self._session_gens[env_name] = None

    async def _identity_hint(self, env_name: str) -> str | None:
        session = await self._peek_session(env_name)
        return f"{session.issuer}#{session.subject}" if session else None

    async def session(self, env_name: str | None = None) -> SessionInfo:
        """The current session (refreshed silently when close to expiry) or ``NotSignedIn``."""
        env = await self._env(env_name)
        return (await self._session(env)).info()

    async def _session(self, env: EnvironmentConfig) -> Session:
        session = await self._current_session(env.name)
        if session is None:
            if env.workload is not None:
                return await self._workload_login(env)
            raise NotSignedIn(f"not signed in to {env.name}",
                              hint=f"run 'microstax login --env {env.name}'", environment=env.name)
        if session.kind == "subject_token" or not session.refresh_due():
            return session
        return await self._refresh(env, session)

    async def _refresh(self, env: EnvironmentConfig, session: Session) -> Session:
        async with self.locks.hold(env.name, timeout=self.config.defaults.login_timeout):
            stored = await self._load_session(env.name)
            if stored is None:
                raise NotSignedIn(f"signed out of {env.name}", hint=f"run 'microstax login --env {env.name}'",
                                  environment=env.name)
            if not stored.refresh_due():
                return stored  # another caller refreshed while we waited
            try:
                renewed = await self._renew(env, stored)
            except (OAuthError, IdentityError) as exc:
                return await self._refresh_failed(env, stored, exc)
            await self._save_session(renewed)
        log.info("%s: session refreshed silently", env.name)
        await self._emit(IdentityChanged(await self._status_offline(env), "refreshed"))
        return renewed

    async def _refresh_failed(self, env: EnvironmentConfig, session: Session, exc: Exception) -> Session:
        reason = getattr(exc, "message", type(exc).__name__)
        if not session.expired(leeway=5):
            log.warning("%s: silent refresh failed (%s); the session stays valid for %ds",
                        env.name, reason, int(session.expires_at - time.time()))
            await self._emit(IdentityChanged(await self._status_offline(env), "refresh_failed"))
            return session
        if isinstance(exc, OAuthErrorResponse | NotSignedIn | SecretNotFound):
            await self._delete_session(env.name)
            await self._emit(IdentityChanged(await self._status_offline(env), "expired"))
            raise NotSignedIn(f"the session for {env.name} expired and could not be refreshed: {reason}",
                              hint=f"run 'microstax login --env {env.name}'", environment=env.name) from exc
        if isinstance(exc, IdentityError):
            raise exc
        raise IdpUnavailable(f"{env.name}: the session expired and the identity provider could not "
                             f"be reached to refresh it: {reason}", hint="retry later",
                             environment=env.name) from exc

    def _client_auth(self, env: EnvironmentConfig, secret: str | None) -> ClientAuth:
        if secret is None:
            return ClientAuth(env.client_id, None, "none")
        if env.auth_method == "client_secret_post":
            return ClientAuth(env.client_id, secret, "client_secret_post")
        return ClientAuth(env.client_id, secret, "client_secret_basic")

    async def _env_client_auth(self, env: EnvironmentConfig) -> ClientAuth:
        secret = None
        if env.client_secret_ref:
            secret = await self._resolve_secret(env.client_secret_ref)
            if secret is None:
                raise SecretNotFound(f"{env.name}: the client secret {env.client_secret_ref!r} is not set",
                                     hint="store it with 'microstax config secret set NAME'")
        return self._client_auth(env, secret)

    async def _renew(self, env: EnvironmentConfig, session: Session) -> Session:
        if session.kind == "client_credentials":
            return await self._client_credentials_session(env, session.client_id, session.client_secret_ref,
                                                          session.auth_method, session.scope)
        if session.refresh_token is None:
            raise NotSignedIn(f"the session for {env.name} cannot be refreshed (no refresh token)",
                              hint=f"run 'microstax login --env {env.name}'")
        auth = await self._env_client_auth(env)
        response = await refresh(self.http, session.token_endpoint, session.refresh_token, auth=auth,
                                 timeout=self.config.defaults.timeout)
        renewed = await self._session_from(env, response, kind="user", token_endpoint=session.token_endpoint)
        if renewed.refresh_token is None:  # not rotated: keep the one we have
            renewed = renewed.with_tokens(refresh_token=session.refresh_token,
                                          refresh_expires_at=session.refresh_expires_at)
        return renewed

    async def _session_from(self, env: EnvironmentConfig, response: TokenResponse, *,
                            kind: Literal["user", "client_credentials", "subject_token"],
                            token_endpoint: str, **extra: Any) -> Session:
        """Build a session from a token response, reading (and for JWTs, verifying) the subject."""
        token = response.access_token
        subject = "unknown"
        try:
            parsed = parse(token)
        except MalformedToken:
            parsed = None
        if parsed is not None:
            typ = ("at+jwt",) if env.flavour == "microstax" else None
            try:
                verified = await self.trust.verify(token, issuer=env.issuer, audience=None, typ=typ)
            except OAuthError as exc:
                raise IdpUnavailable(f"{env.name}: cannot check the session token: {exc.message}",
                                     environment=env.name) from exc
            except Exception as exc:
                message = getattr(exc, "message", type(exc).__name__)
                raise LoginFailed(f"{env.name}: the identity provider issued a session token that does "
                                  f"not verify: {message}", environment=env.name) from exc
            claims = verified.claims
            # Our platform's 'sub' is the user name (or SPIFFE ID); Keycloak's is a UUID, its
            # 'preferred_username' the name people know.
            names = ("sub",) if env.flavour == "microstax" else ("preferred_username", "sub")
            subject = next((str(claims[n]) for n in names if isinstance(claims.get(n), str)), "unknown")
        elif response.id_token:
            try:
                subject = str(parse(response.id_token).claims.get("sub", "unknown"))
            except MalformedToken:
                pass
        expires_at = response.expires_at or (time.time() + 300)
        return Session(
            environment=env.name, issuer=env.issuer, kind=kind, subject=subject,
            expires_at=expires_at, obtained_at=response.received_at, token_endpoint=token_endpoint,
            client_id=extra.pop("client_id", env.client_id), access_token=token,
            refresh_token=response.refresh_token, id_token=response.id_token,
            refresh_expires_at=response.refresh_expires_at, scope=response.scope, **extra,
        )

    # -- sign-in ----------------------------------------------------------------------------

    async def login(
        self,
        env_name: str | None = None,
        on_prompt: PromptCallback | None = None,
        *,
        method: LoginMethod | None = None,
        open_browser: BrowserOpener | None = None,
        force: bool = False,
        timeout: float | None = None,
    ) -> SessionInfo:
        """Sign a person in (device flow, or browser + PKCE on a loopback redirect).

        Concurrent callers for one environment (in this or any other process) wait for the
        first and reuse its session. Without ``force`` a valid session is reused as is.
        """
        env = await self._env(env_name)
        timeout = timeout or self.config.defaults.login_timeout
        self.secret_store()  # fail early, before a user approves anything, when there is no keyring
        try:
            async with self.locks.hold(env.name, timeout=timeout):
                if not force:
                    existing = await self._load_session(env.name)
                    if existing is not None and existing.kind == "user" and not existing.refresh_due():
                        return existing.info()
                session = await self._interactive_login(env, on_prompt, method, open_browser, timeout)
                await self._save_session(session)
        except TimeoutError as exc:
            raise LoginTimeout(f"{env.name}: the sign-in did not finish within {timeout:g}s",
                               hint="run 'microstax login' again", environment=env.name) from exc
        await self._forget_tokens(env.name, keep_vault=True)
        await self._emit(IdentityChanged(await self._status_offline(env), "signed_in"))
        return session.info()

    async def _interactive_login(self, env: EnvironmentConfig, on_prompt: PromptCallback | None,
                                 method: LoginMethod | None, open_browser: BrowserOpener | None,
                                 timeout: float) -> Session:
        meta = await self.metadata(env)
        if not meta.token_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider publishes no token endpoint")
        opener = open_browser or self.open_browser
        chosen = method or env.login_method or self.config.defaults.login_method
        if chosen == "auto":
            can_browse = opener is not None or gui_available()
            if meta.authorization_endpoint and can_browse:
                chosen = "browser"
            elif meta.device_authorization_endpoint:
                chosen = "device"
            elif meta.authorization_endpoint:
                chosen = "browser"
            else:
                raise LoginFailed(f"{env.name}: the identity provider offers neither the device flow "
                                  "nor the authorization code flow", environment=env.name)
        auth = await self._env_client_auth(env)
        scope = " ".join(env.scopes)
        try:
            if chosen == "device":
                response = await self._device_login(env, meta, auth, scope, on_prompt, opener, timeout)
            else:
                response = await self._browser_login(env, meta, auth, scope, on_prompt, opener, timeout)
        except OAuthErrorResponse as exc:
            if exc.error == "expired_token":
                raise LoginTimeout(f"{env.name}: the sign-in expired before it was approved",
                                   hint="run 'microstax login' again and approve in time",
                                   environment=env.name) from exc
            desc = f" ({exc.description})" if exc.description else ""
            hint = ("the sign-in was denied" if exc.error == "access_denied"
                    else "check the environment's client_id and scopes")
            raise LoginFailed(f"{env.name}: sign-in failed: {exc.error}{desc}", hint=hint,
                              environment=env.name, error=exc.error) from exc
        except TransportError as exc:
            raise IdpUnavailable(f"{env.name}: {exc.message}", hint=exc.hint, environment=env.name) from exc
        except OAuthError as exc:
            raise IdpUnavailable(f"{env.name}: sign-in failed: {exc.message}", environment=env.name) from exc
        return await self._session_from(env, response, kind="user", token_endpoint=meta.token_endpoint)

    async def _prompt(self, prompt: DevicePrompt, on_prompt: PromptCallback | None) -> None:
        await self._emit(LoginPrompted(prompt))
        if on_prompt is not None:
            result = on_prompt(prompt)
            if inspect.isawaitable(result):
                await result

    async def _device_login(self, env: EnvironmentConfig, meta: IssuerMetadata, auth: ClientAuth, scope: str,
                            on_prompt: PromptCallback | None, opener: BrowserOpener | None,
                            timeout: float) -> TokenResponse:
        if not meta.device_authorization_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider does not offer the device flow",
                              hint="use --method browser", environment=env.name)
        assert meta.token_endpoint
        # PKCE on the device flow too: Keycloak demands it of clients that enforce PKCE; other
        # servers ignore the parameters (RFC 6749 §3.1).
        authorization = await device_flow.start(self.http, meta.device_authorization_endpoint, auth,
                                                scope=scope, timeout=self.config.defaults.timeout,
                                                pkce=env.flavour != "microstax")
        prompt = DevicePrompt(environment=env.name, verification_uri=authorization.verification_uri,
                              expires_at=min(authorization.expires_at, time.time() + timeout),
                              user_code=authorization.user_code,
                              verification_uri_complete=authorization.verification_uri_complete)
        await self._prompt(prompt, on_prompt)
        if opener is not None:
            url = authorization.verification_uri_complete or authorization.verification_uri
            result = opener(url)
            if inspect.isawaitable(result):
                await result
        deadline = time.time() + timeout

        def clock() -> float:
            now = time.time()
            return now if now < deadline else authorization.expires_at

        return await device_flow.poll(self.http, meta.token_endpoint, authorization, auth,
                                      timeout=self.config.defaults.timeout, clock=clock)

    async def _browser_login(self, env: EnvironmentConfig, meta: IssuerMetadata, auth: ClientAuth, scope: str,
                             on_prompt: PromptCallback | None, opener: BrowserOpener | None,
                             timeout: float) -> TokenResponse:
        if not meta.authorization_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider has no authorization endpoint",
                              hint="use --method device", environment=env.name)
        assert meta.token_endpoint

        async def open_url(url: str) -> object:
            await self._prompt(DevicePrompt(environment=env.name, verification_uri=url,
                                            expires_at=time.time() + timeout, kind="browser"), on_prompt)
            if opener is not None:
                result = opener(url)
                return await result if inspect.isawaitable(result) else result
            return _default_browser(url) or None

        return await authorization_code_login(
            self.http, authorization_endpoint=meta.authorization_endpoint,
            token_endpoint=meta.token_endpoint, auth=auth, scope=scope, open_browser=open_url,
            timeout=timeout, http_timeout=self.config.defaults.timeout)

    # -- workload sign-in -------------------------------------------------------------------

    async def login_workload(
        self,
        env_name: str | None = None,
        *,
        client_id: str | None = None,
        client_secret_ref: str | None = None,
        subject: SubjectTokenSource | None = None,
        scopes: Sequence[str] = (),
    ) -> SessionInfo:
        """Sign a workload in without a human: client credentials (secret from the keyring or a
        file, given as a reference) or a subject token file read again on every use."""
        env = await self._env(env_name)
        if bool(client_id) == bool(subject):
            raise BadRequest("give either a client id (client credentials) or a subject token file")
        async with self.locks.hold(env.name, timeout=self.config.defaults.login_timeout):
            if subject is not None:
                text = await self._read_subject_file(subject.path)
                tok = subject_from_jwt(text, where=f"in {subject.path}")
                exp = numeric_date(parse(text).claims.get("exp"))
                now = time.time()
                session = Session(
                    environment=env.name, issuer=tok.issuer, kind="subject_token", subject=tok.subject,
                    expires_at=now + 3600 if exp is None else float(exp),
                    obtained_at=now, token_endpoint="", client_id=env.client_id,
                    subject_token_file=str(Path(subject.path).resolve()), subject_token_type=subject.kind)
            else:
                if not client_secret_ref:
                    raise BadRequest("client credentials need a secret (a keyring entry or a file)")
                session = await self._client_credentials_session(
                    env, str(client_id), client_secret_ref, "client_secret_basic", " ".join(scopes) or None)
            await self._save_session(session)
        await self._forget_tokens(env.name, keep_vault=True)
        await self._emit(IdentityChanged(await self._status_offline(env), "signed_in"))
        return session.info()

    async def _workload_login(self, env: EnvironmentConfig) -> Session:
        wl = env.workload
        assert wl is not None
        if wl.subject_token_file:
            await self.login_workload(env.name, subject=SubjectTokenSource(wl.subject_token_file,
                                                                            wl.subject_token_type))  # type: ignore[arg-type]
        else:
            await self.login_workload(env.name, client_id=wl.client_id, client_secret_ref=wl.client_secret_ref,
                                      scopes=wl.scopes)
        return self._sessions[env.name]

    async def _client_credentials_session(self, env: EnvironmentConfig, client_id: str, secret_ref: str | None,
                                          auth_method: str, scope: str | None) -> Session:
        secret = await self._resolve_secret(secret_ref) if secret_ref else None
        if secret is None:
            raise SecretNotFound(f"{env.name}: the client secret {secret_ref!r} is not set",
                                 hint="store it with 'microstax config secret set NAME' or check the file")
        meta = await self.metadata(env)
        if not meta.token_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider publishes no token endpoint")
        auth = ClientAuth(client_id, secret, "client_secret_post" if auth_method == "client_secret_post"
                          else "client_secret_basic")
        try:
            response = await client_credentials(self.http, meta.token_endpoint, auth,
                                                scope=scope.split() if scope else (),
                                                timeout=self.config.defaults.timeout)
        except OAuthErrorResponse as exc:
            if env.flavour == "microstax" and exc.error in ("invalid_request", "invalid_target") and exc.status != 401:
                # Our platform issues workload tokens per target cluster only (the audience is
                # required), so a token cannot be had yet; the client did authenticate (a bad
                # secret is invalid_client, 401). Federate asks each cluster for its token.
                now = time.time()
                return Session(environment=env.name, issuer=env.issuer, kind="client_credentials",
                               subject=client_id, expires_at=now + 365 * 86400, obtained_at=now,
                               token_endpoint=meta.token_endpoint, client_id=client_id,
                               scope=scope, auth_method=auth.method, client_secret_ref=secret_ref)
            desc = f" ({exc.description})" if exc.description else ""
            raise LoginFailed(f"{env.name}: client credentials sign-in for {client_id} failed: {exc.error}{desc}",
                              hint="check the client id and the secret reference", environment=env.name,
                              error=exc.error) from exc
        except OAuthError as exc:
            raise IdpUnavailable(f"{env.name}: {exc.message}", environment=env.name) from exc
        return await self._session_from(env, response, kind="client_credentials",
                                        token_endpoint=meta.token_endpoint, client_id=client_id,
                                        client_secret_ref=secret_ref, auth_method=auth.method)

    async def _read_subject_file(self, path: str) -> str:
        def read() -> str:
            return read_limited_text(Path(path).expanduser(), max_bytes=64 * 1024).strip()

        try:
            return await asyncio.to_thread(read)
        except FileNotFoundError as exc:
            raise InvalidSubjectToken(f"the subject token file {path} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidSubjectToken(f"cannot read the subject token file {path}") from exc

    # -- sign-out ---------------------------------------------------------------------------

    async def logout(self, env_name: str | None = None) -> IdentityStatus:
        """Remove what sign-in stored (session, exchanged tokens) and revoke the refresh token
        at the identity provider (RFC 7009) when it offers revocation. Best effort: when the
        IdP cannot be reached the session is still removed here, and the status says so
        (``revocation`` ``failed``)."""
        env = await self._env(env_name)
        outcome: tuple[Literal["revoked", "unsupported", "failed", "none"], str | None] = ("none", None)
        async with self.locks.hold(env.name, timeout=self.config.defaults.login_timeout):
            session = await self._load_session(env.name)
            if session is not None:
                outcome = await self._revoke(env, session)
            await self._delete_session(env.name)
            await self._forget_tokens(env.name, keep_vault=False)
        status = replace(await self._status_offline(env), revocation=outcome[0],
                         revocation_error=outcome[1])
        await self._emit(IdentityChanged(status, "signed_out"))
        return status

    async def _revoke(self, env: EnvironmentConfig, session: Session
                      ) -> tuple[Literal["revoked", "unsupported", "failed", "none"], str | None]:
        """Revoke the session's refresh token where the IdP offers it (which also ends, at our
        platform, the access tokens of the session); (outcome, why it failed)."""
        if not session.refresh_token:
            return "none", None
        try:
            meta = await self.trust.metadata(env.issuer)
            if not meta.revocation_endpoint:
                return "unsupported", None
            await revocation.revoke(self.http, meta.revocation_endpoint, session.refresh_token,
                                    auth=await self._env_client_auth(env), token_type_hint="refresh_token",
                                    timeout=min(5.0, self.config.defaults.timeout))
        except (OAuthError, IdentityError) as exc:
            reason = getattr(exc, "message", type(exc).__name__)
            log.warning("%s: could not revoke the session at the identity provider (%s); it is "
                        "removed here only", env.name, reason)
            return "failed", reason
        return "revoked", None

    async def _forget_tokens(self, env_name: str, *, keep_vault: bool) -> None:
        for key in [k for k in self._entries if k.environment == env_name]:
            del self._entries[key]
        for fk in [k for k in self._failures if k[0] == env_name]:
            del self._failures[fk]
        if not keep_vault:
            self._vault_loaded.discard(env_name)
            vault = TokenVault(self._vault_store(), self.state_dir)
            async with file_lock(vault.lock_path(env_name), timeout=30):
                await self._in_thread(vault.clear, env_name)

    # -- federate ---------------------------------------------------------------------------

    async def _subject(self, env: EnvironmentConfig, source: SubjectTokenSource | None) -> SubjectToken:
        if source is not None:
            text = await self._read_subject_file(source.path)
            return subject_from_jwt(text, token_type=TOKEN_TYPE_JWT, where=f"in {source.path}")
        session = await self._session(env)
        if session.kind == "subject_token":
            assert session.subject_token_file
            text = await self._read_subject_file(session.subject_token_file)
            return subject_from_jwt(text, token_type=TOKEN_TYPE_JWT, where=f"in {session.subject_token_file}")
        if session.expired():
            raise NotSignedIn(f"the session for {env.name} has expired",
                              hint=f"run 'microstax login --env {env.name}'", environment=env.name)
        if session.kind == "client_credentials" and not session.access_token:
            secret = await self._resolve_secret(session.client_secret_ref) if session.client_secret_ref else None
            if secret is None:
                raise SecretNotFound(f"{env.name}: the client secret {session.client_secret_ref!r} is gone",
                                     hint="sign the workload in again", environment=env.name)
            auth = ClientAuth(session.client_id, secret, "client_secret_post"
                              if session.auth_method == "client_secret_post" else "client_secret_basic")
            return SubjectToken("", TOKEN_TYPE_ACCESS, f"client:{session.issuer}#{session.client_id}",
                                session.client_id, session.issuer, client=auth)
        return SubjectToken(session.access_token, TOKEN_TYPE_ACCESS, f"{session.issuer}#{session.subject}",
                            session.subject, session.issuer, session.id_token)

    def _vault_store(self) -> SecretStore | None:
        try:
            return self.record_store()
        except KeyringUnavailable:
            return None

    async def _ensure_vault(self, env_name: str, *, with_tokens: bool = True) -> None:
        if env_name in self._vault_loaded or not self.persist_tokens:
            return
        store = self._vault_store() if with_tokens else None
        vault = TokenVault(store, self.state_dir)
        try:
            snap = await self._in_thread(lambda: vault.load(env_name, with_tokens=store is not None))
        except KeyringUnavailable as exc:
            log.warning("exchanged tokens of earlier runs are not available: %s", exc.message)
            snap = await self._in_thread(lambda: vault.load(env_name, with_tokens=False))
        for entry in snap.entries.values():
            self._entries.setdefault(entry.key, entry)
        for cluster, failure in snap.failures.items():
            self._failures.setdefault((env_name, cluster), failure)
        self._vault_meta[env_name] = snap.meta
        if store is not None:
            self._vault_loaded.add(env_name)

    async def _persist(self, env_name: str, clusters: Iterable[str]) -> None:
        if not self.persist_tokens:
            return
        store = self._vault_store()
        vault = TokenVault(store, self.state_dir)
        names = set(clusters)
        entries = [e for k, e in self._entries.items() if k.environment == env_name and k.target in names]
        failures = {c: f for (e, c), f in self._failures.items() if e == env_name and c in names}
        cleared = names - set(failures)
        try:
            async with file_lock(vault.lock_path(env_name), timeout=30):
                await self._in_thread(lambda: vault.save(env_name, entries, failures, cleared=cleared))
        except (KeyringUnavailable, OSError, TimeoutError) as exc:
            log.warning("could not keep the exchanged tokens for later runs: %s",
                        getattr(exc, "message", type(exc).__name__))

    async def federate(self, request: FederateRequest) -> FederatedToken:
        """A verified token for one target (from the cache when fresh)."""
        env = await self._env(request.environment)
        clusters, trust_domain, error = await self._clusters(env)
        cluster = self._pick(env, clusters, request.target, error)
        subject = await self._subject(env, request.subject)
        result = await self._federate_one(env, cluster, subject, request, trust_domain)
        if not result.from_cache or result.refresh_failure is not None:
            await self._persist(env.name, [cluster.name])
        return result

    async def federate_many(self, request: FederateRequest,
                            targets: Sequence[str] | None = None) -> list[FederateOutcome]:
        """Federate to many clusters concurrently: ``targets``, or ``request.target`` as
        ``all`` or a comma-separated list. One slow, down or misbehaving cluster never delays
        or breaks the others; each outcome carries its token or its error."""
        env = await self._env(request.environment)
        clusters, trust_domain, error = await self._clusters(env)
        if targets is None:
            names = [t.strip() for t in request.target.split(",") if t.strip()]
        else:
            names = list(targets)
        if names == ["all"]:
            names = sorted(clusters)
            if not names:
                if error:
                    raise IdpUnavailable(error, hint="retry when the platform is reachable", environment=env.name)
                raise UnknownCluster(f"environment {env.name} has no clusters")
        subject = await self._subject(env, request.subject)
        # A global cap, and a few requests at a time per identity provider: one IdP is not
        # hammered, and httpx's pool (whose bookkeeping grows with its connections) stays small.
        semaphore = asyncio.Semaphore(self.config.defaults.concurrency)
        per_idp: dict[str, asyncio.Semaphore] = {}

        def idp_limit(cluster: ClusterInfo) -> asyncio.Semaphore:
            url = httpx.URL(cluster.exchange.token_endpoint or cluster.issuer or "http://unknown")
            origin = f"{url.scheme}://{url.host}:{url.port}"
            if origin not in per_idp:
                per_idp[origin] = asyncio.Semaphore(self.config.defaults.concurrency_per_idp)
            return per_idp[origin]
        # A per-target bound on top of the HTTP timeouts: discovery + JWKS + exchange, one retry.
        bound = self.config.defaults.timeout * 3 + self.config.defaults.retry_after_max + 1

        async def one(name: str) -> FederateOutcome:
            try:
                cluster = self._pick(env, clusters, name, error)
                async with idp_limit(cluster), semaphore:
                    result = await asyncio.wait_for(
                        self._federate_one(env, cluster, subject, replace(request, target=name), trust_domain),
                        bound)
                return FederateOutcome(name, result=result)
            except IdentityError as exc:
                return FederateOutcome(name, error=exc)
            except TimeoutError:
                exc2 = IdpUnavailable(f"{name}: no answer within {bound:g}s", hint="retry later", cluster=name)
                self._failures[(env.name, name)] = failure_of(exc2)
                return FederateOutcome(name, error=exc2)
            except Exception as exc:
                log.exception("%s: unexpected failure", name)
                return FederateOutcome(name, error=exc)

        outcomes = await asyncio.gather(*(one(n) for n in dict.fromkeys(names)))
        await self._persist(env.name, [o.target for o in outcomes])
        return list(outcomes)

    def _cache_key(self, env: EnvironmentConfig, cluster: ClusterInfo, subject: SubjectToken,
                   request: FederateRequest) -> CacheKey:
        scopes = tuple(sorted(set(request.scopes)))
        return CacheKey(subject.identity, env.name, cluster.name, request.service, scopes,
                        request.audience or cluster.audience)

    async def _federate_one(self, env: EnvironmentConfig, cluster: ClusterInfo, subject: SubjectToken,
                            request: FederateRequest, trust_domain: str | None) -> FederatedToken:
        key = self._cache_key(env, cluster, subject, request)
        if env.name not in self._vault_loaded:
            await self._ensure_vault(env.name)
        entry = self._entries.get(key)
        if entry is not None and not request.force and entry.fresh(refresh_ahead=self.config.defaults.refresh_ahead):
            return self._result(entry, cluster, from_cache=True)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._exchange(key, env, cluster, subject, request, trust_domain))
            self._inflight[key] = future

            def done(f: asyncio.Future[CacheEntry], k: CacheKey = key) -> None:
                if self._inflight.get(k) is f:
                    del self._inflight[k]
                if not f.cancelled():
                    f.exception()  # retrieved: an error nobody awaits is not "never retrieved"

            future.add_done_callback(done)
        try:
            fresh = await asyncio.shield(future)
        except IdentityError as exc:
            stale = self._entries.get(key)
            if stale is not None and stale.valid():
                log.warning("%s: refresh failed, serving the previous token for %ds more: %s",
                            cluster.name, int(stale.expires_at - time.time()), exc.message)
                return self._result(stale, cluster, from_cache=True, refresh_failure=failure_of(exc))
            raise
        return self._result(fresh, cluster, from_cache=False)

    async def _exchange(self, key: CacheKey, env: EnvironmentConfig, cluster: ClusterInfo,
                        subject: SubjectToken, request: FederateRequest, trust_domain: str | None) -> CacheEntry:
        audience = request.audience or cluster.audience
        try:
            if subject.client is not None:
                token, verified = await self.exchanger.workload(
                    cluster, subject.client, service=request.service, scopes=request.scopes,
                    audience=audience, environment=env.catalog_name, trust_domain=trust_domain)
            else:
                exchange_request = self.exchanger.request_for(
                    cluster, subject, service=request.service, scopes=request.scopes,
                    audience=request.audience, environment=env.catalog_name, trust_domain=trust_domain)
                token, verified = await self.exchanger.run(cluster, exchange_request, audience=audience)
        except IdentityError as exc:
            self._failures[(env.name, cluster.name)] = failure_of(exc)
            if self._subscribers:
                await self._emit(ClusterStateChanged(self._cluster_state(env.name, cluster, subject.identity)))
            raise
        claims = verified.claims
        exp = float(claims["exp"])
        iat = claims.get("iat")
        issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else time.time()
        entry = CacheEntry(key, token, exp, min(issued, time.time()), verified.parsed)
        self._entries[key] = entry
        self._failures.pop((env.name, cluster.name), None)
        self._notified_expired.discard(key)
        if self._subscribers:
            await self._emit(ClusterStateChanged(self._cluster_state(env.name, cluster, subject.identity)))
        return entry

    def _result(self, entry: CacheEntry, cluster: ClusterInfo, *, from_cache: bool,
                refresh_failure: Failure | None = None) -> FederatedToken:
        # Only verified tokens ever enter the cache (the vault's too: they were verified when
        # exchanged); the time claims are what changes, and describe() reports them.
        if entry.parsed is None:
            entry.parsed = parse(entry.token)
        description = describe(entry.parsed, verdict=_verdict_of(entry.parsed),
                               header_budget=cluster.header_budget)
        return FederatedToken(
            token=entry.token, environment=entry.key.environment, cluster=cluster,
            service=entry.key.service, scopes=entry.key.scopes, audience=entry.key.audience,
            expires_at=entry.expires_at, issued_at=entry.issued_at, description=description,
            from_cache=from_cache, refresh_failure=refresh_failure)

    # -- status -----------------------------------------------------------------------------

    def _cluster_state(self, env_name: str, cluster: ClusterInfo, identity: str | None) -> ClusterState:
        now = time.time()
        best: CacheEntry | None = None
        for key, entry in self._entries.items():
            if (key.environment == env_name and key.target == cluster.name and key.identity == identity
                    and entry.valid(now) and (best is None or entry.expires_at > best.expires_at)):
                best = entry
        failure = self._failures.get((env_name, cluster.name))
        if best is None and identity is not None:
            meta = self._vault_meta.get(env_name, {})
            for m in meta.values():
                if (m.get("target") == cluster.name and m.get("identity") == identity
                        and float(m.get("expiresAt", 0)) - 5 > now):
                    best = CacheEntry(CacheKey(identity, env_name, cluster.name, str(m.get("service")), (), ""),
                                      "", float(m["expiresAt"]), float(m.get("issuedAt", now)))
        if best is not None:
            return ClusterState(cluster, TokenState("exchanged", best.expires_at, best.issued_at,
                                                    best.key.service, failure))
        if failure is not None:
            return ClusterState(cluster, TokenState("failed", failure=failure))
        return ClusterState(cluster, TokenState("not_exchanged"))

    async def status(self, env_name: str | None = None, *, refresh_catalog: bool = False) -> IdentityStatus:
        """Who is signed in, until when, and every cluster's token (no sign-in, no refresh)."""
        env = await self._env(env_name)
        session = await self._peek_session(env.name)
        if session is not None and session.expired() and not session.renewable:
            session = None
        identity = f"{session.issuer}#{session.subject}" if session else None
        await self._ensure_vault(env.name, with_tokens=False)
        clusters, _, error = await self._clusters(env, fresh=refresh_catalog)
        states = tuple(self._cluster_state(env.name, c, identity) for c in clusters.values())
        return IdentityStatus(environment=env.name, signed_in=session is not None,
                              session=session.info() if session else None, clusters=states,
                              catalog_error=error)

    async def _status_offline(self, env: EnvironmentConfig) -> IdentityStatus:
        """A status from what is known locally (for events: never waits on the network)."""
        session = self._sessions.get(env.name)
        identity = f"{session.issuer}#{session.subject}" if session else None
        try:
            clusters, _, error = await self._clusters(env, offline=True)
        except IdentityError:
            clusters, error = {}, None
        states = tuple(self._cluster_state(env.name, c, identity) for c in clusters.values())
        return IdentityStatus(environment=env.name, signed_in=session is not None,
                              session=session.info() if session else None, clusters=states,
                              catalog_error=error)

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
            # Sessions another process signed out of, into, or refreshed (one stat each).
            for name in [n for n in list(self._session_gens) if self._session_changed(n)]:
                try:
                    await self._adopt_stored_session(name)
                except IdentityError as exc:
                    log.info("%s: re-reading the session: %s", name, exc.message)
                except Exception:
                    log.exception("%s: re-reading the session failed unexpectedly", name)
            now = time.time()
            for name, session in list(self._sessions.items()):
                env = self.config.environments.get(name) or self._catalog_envs.get(name)
                if env is None:
                    continue
                try:
                    if session.kind != "subject_token" and session.refresh_due(now) and session.renewable:
                        await self._refresh(env, session)
                    elif session.expired(now) and not session.renewable:
                        self._sessions.pop(name, None)
                        self._session_gens.pop(name, None)  # read it again on next use
                        await self._emit(IdentityChanged(await self._status_offline(env), "expired"))
                except IdentityError as exc:
                    log.info("%s: background refresh: %s", name, exc.message)
                except Exception:
                    log.exception("%s: background refresh failed unexpectedly", name)
            for key, entry in list(self._entries.items()):
                if not entry.valid(now) and key not in self._notified_expired:
                    self._notified_expired.add(key)
                    env = self.config.environments.get(key.environment) or self._catalog_envs.get(key.environment)
                    if env is None:
                        continue
                    try:
                        clusters, _, _ = await self._clusters(env, offline=True)
                    except IdentityError:
                        continue
                    if key.target in clusters:
                        await self._emit(ClusterStateChanged(
                            self._cluster_state(env.name, clusters[key.target], key.identity)))


__all__ = ["IdentityService", "gui_available"]
