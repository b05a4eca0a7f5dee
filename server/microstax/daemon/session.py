"""The identity side of the daemon: commands over ``IdentityService``, its events as
notifications, and timers so the client hears about expiries when they happen.

    microstax.listEnvironments  microstax.listClusters  microstax.federate
    microstax.identityStatus    microstax.login         microstax.logout
    microstax.configurePlatform (adds an environment to the user config file, then reloads it)

    IdentityChanged / ClusterStateChanged / LoginPrompted  →  microstax/identityChanged,
                                                              microstax/clusterStateChanged,
                                                              microstax/loginPrompt

The service refreshes sessions in the background and reports what it does; the daemon adds a
timer at the session's ``exp`` and at each exchanged token's ``exp`` and notifies when the
state it last reported has changed by then. Issuers of configured environments and of the
clusters the catalog names are the issuers hovers may fetch keys from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from .arguments import opt_str, opt_str_list, req_str
from .hovercard import summary

if TYPE_CHECKING:
    from ..identity.models import ClusterState, IdentityEvent, IdentityStatus
    from ..identity.service import IdentityService
    from .server import MicrostaxServer

log = logging.getLogger("microstax.daemon.session")

VERSION = 1
_EXPIRY_SLACK = 0.5  # seconds after an exp before looking again
_MAX_TIMER = 24 * 3600.0
IDENTITY_CHANGED = "microstax/identityChanged"
CLUSTER_STATE_CHANGED = "microstax/clusterStateChanged"


def _identity_key(status: IdentityStatus, now: float) -> tuple[Any, ...]:
    session = status.session
    return (status.signed_in, session.subject if session else None,
            session.expires_at if session else None, bool(session and session.expires_at <= now),
            tuple(_cluster_key(c, now) for c in status.clusters))


def _cluster_key(state: ClusterState, now: float) -> tuple[Any, ...]:
    token = state.token
    live = token.state == "exchanged" and (token.expires_at is None or token.expires_at > now)
    return (state.name, token.state if live or token.state != "exchanged" else "expired",
            token.expires_at, token.failure.message if token.failure else None, state.cluster.status)


class Session:
    """Owns the ``IdentityService`` of the editor's session."""

    def __init__(self, ls: MicrostaxServer) -> None:
        self.ls = ls
        self._service: IdentityService | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._reported: dict[str, tuple[Any, ...]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the service ----------------------------------------------------------------------
    def service(self) -> IdentityService:
        """The service, created on first use from the config file (a bad config raises the
        identity layer's ``ConfigError``, a user error)."""
        if self._service is None:
            from ..identity.service import IdentityService

            service = IdentityService.from_config(self.ls.settings.config_file)
            self._unsubscribe = service.subscribe(self._on_event)
            service.start_background()
            self._service = service
            self._trust_configured()
        return self._service

    def _trust_configured(self) -> None:
        if self._service is None:
            return
        for env in self._service.config.environments.values():
            self.ls.trusted_issuers.add(env.issuer)
            for cluster in getattr(env, "clusters", {}).values():
                issuer = getattr(getattr(cluster, "exchange", None), "expected_issuer", None)
                if issuer:
                    self.ls.trusted_issuers.add(issuer)

    def _trust_clusters(self, states: Any) -> None:
        for state in states:
            if state.cluster.issuer:
                self.ls.trusted_issuers.add(state.cluster.issuer)

    def environment(self, arg: dict[str, Any]) -> str | None:
        return opt_str(arg, "environment", limit=256) or self.ls.settings.environment

    def start(self) -> None:
        """After ``initialized``: load the config and learn the clusters' issuers in the
        background; a failure is logged, and commands report it when they run."""
        self._spawn(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            service = self.service()
            status = await service.status(self.ls.settings.environment)
        except Exception as exc:
            log.warning("identity: %s", getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
            return
        self._seen_status(status, report=False)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        service, self._service = self._service, None
        if service is not None:
            await service.aclose()

    def reconfigure(self) -> None:
        """The config file setting changed: read it again (a bad file is reported)."""
        if self._service is None:
            return
        try:
            self._service.reload_config(self.ls.settings.config_file)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            log.warning("the MicroStax config file: %s", message)
            from lsprotocol import types

            self.ls.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning, message=f"MicroStax config: {message}"))
            return
        self._trust_configured()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("identity background task failed", exc_info=task.exception())

    # -- events and timers ----------------------------------------------------------------
    def _notify(self, method: str, params: dict[str, Any]) -> None:
        try:
            self.ls.protocol.notify(method, params)
        except Exception:
            log.exception("could not send %s", method)

    def _on_event(self, event: IdentityEvent) -> None:
        from ..identity.models import ClusterStateChanged, IdentityChanged

        now = time.time()
        log.info("identity event: %s", type(event).__name__)
        if isinstance(event, IdentityChanged):
            self._seen_status(event.status, report=False)
            self._reported[f"identity:{event.status.environment}"] = _identity_key(event.status, now)
        elif isinstance(event, ClusterStateChanged):
            self._seen_cluster(event.state)
            self._reported[f"cluster:{event.state.cluster.environment}:{event.state.name}"] = \
                _cluster_key(event.state, now)
        self._notify(event.method, event.to_json())

    def _seen_status(self, status: IdentityStatus, *, report: bool) -> None:
        """Remember a status, arm its timers, and (``report``) notify if it changed."""
        now = time.time()
        key = f"identity:{status.environment}"
        self._trust_clusters(status.clusters)
        if report and self._reported.get(key) != _identity_key(status, now):
            self._notify(IDENTITY_CHANGED, status.to_json(now))
        self._reported[key] = _identity_key(status, now)
        if status.session is not None and status.session.expires_at > now:
            self._arm(key, status.session.expires_at, self._session_expired, status.environment)
        for state in status.clusters:
            self._seen_cluster(state, report=report)

    def _seen_cluster(self, state: ClusterState, *, report: bool = False) -> None:
        now = time.time()
        env = state.cluster.environment
        key = f"cluster:{env}:{state.name}"
        self._trust_clusters([state])
        if report and self._reported.get(key) != _cluster_key(state, now):
            self._notify(CLUSTER_STATE_CHANGED, state.to_json(now))
        self._reported[key] = _cluster_key(state, now)
        exp = state.token.expires_at
        if state.token.state == "exchanged" and exp is not None and exp > now:
            self._arm(key, exp, self._cluster_expired, env, state.name)

    def _arm(self, key: str, when: float, fn: Callable[..., Any], *args: Any) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        delay = min(max(when - time.time(), 0.0) + _EXPIRY_SLACK, _MAX_TIMER)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, lambda: self._spawn(fn(*args)))

    async def _session_expired(self, env: str) -> None:
        if self._service is None:
            return
        status = await self._service.status(env)
        self._seen_status(status, report=True)

    async def _cluster_expired(self, env: str, name: str) -> None:
        if self._service is None:
            return
        for state in await self._service.list_clusters(env):
            if state.name == name:
                self._seen_cluster(state, report=True)

    # -- commands -------------------------------------------------------------------------
    def register_commands(self, command: Callable[..., Any]) -> None:
        ls = self.ls

        @command(ls, "microstax.listEnvironments")
        async def list_environments(arg: dict[str, Any]) -> dict[str, Any]:
            envs = await self.service().list_environments()
            for env in envs:
                ls.trusted_issuers.add(env.issuer)
            return {"v": VERSION, "environments": [e.to_json() for e in envs]}

        @command(ls, "microstax.listClusters")
        async def list_clusters(arg: dict[str, Any]) -> dict[str, Any]:
            service = self.service()
            env = service.environment(self.environment(arg)).name
            states = await service.list_clusters(env)
            for state in states:
                self._seen_cluster(state)
            now = time.time()
            doc: dict[str, Any] = {"v": VERSION, "environment": env, "clusters": [s.to_json(now) for s in states]}
            error = service.catalog_error(env)
            if error:
                doc["catalogError"] = error  # unreachable is not empty: the client says so, with Retry
            return doc

        @command(ls, "microstax.configurePlatform")
        async def configure_platform(arg: dict[str, Any]) -> dict[str, Any]:
            from ..identity.config_edit import add_platform

            edit = add_platform(ls.settings.config_file, req_str(arg, "environment", limit=64),
                                req_str(arg, "platform", limit=2048), make_default=arg.get("default") is True)
            if self._service is not None:
                self._service.reload_config(ls.settings.config_file)
                self._trust_configured()
            return {"v": VERSION, "path": str(edit.path), "environment": edit.environment,
                    "platform": edit.platform, "changed": edit.changed, "default": edit.default}

        @command(ls, "microstax.federate")
        async def federate(arg: dict[str, Any]) -> dict[str, Any]:
            from ..identity.models import FederateRequest

            request = FederateRequest(
                target=req_str(arg, "target", limit=256),
                service=opt_str(arg, "service", limit=256) or "default",
                environment=self.environment(arg),
                scopes=opt_str_list(arg, "scopes"),
                audience=opt_str(arg, "audience", limit=1024),
                force=arg.get("force") is True,
            )
            result = await self.service().federate(request)
            self._seen_cluster(result.cluster_state())
            doc = result.to_json()
            doc["v"] = VERSION
            doc["summary"] = summary(result.description)  # the same shape as decode/verify
            return doc

        @command(ls, "microstax.identityStatus")
        async def identity_status(arg: dict[str, Any]) -> dict[str, Any]:
            status = await self.service().status(self.environment(arg))
            self._seen_status(status, report=False)
            return status.to_json()

        @command(ls, "microstax.login")
        async def login(arg: dict[str, Any]) -> dict[str, Any]:
            service = self.service()
            env = service.environment(self.environment(arg))
            method: Literal["device", "browser"] = "browser" if env.login_method == "browser" else "device"
            # The prompt reaches the client as microstax/loginPrompt (a service event); the
            # client opens the browser, never the daemon.
            await service.login(env.name, method=method, open_browser=_client_opens_it,
                                force=arg.get("force") is True)
            status = await service.status(env.name)
            self._seen_status(status, report=False)
            return status.to_json()

        @command(ls, "microstax.logout")
        async def logout(arg: dict[str, Any]) -> dict[str, Any]:
            status = await self.service().logout(self.environment(arg))
            self._seen_status(status, report=False)
            return status.to_json()


def _client_opens_it(url: str) -> None:
    """The daemon never opens a browser: the client does, from microstax/loginPrompt."""
    return None
