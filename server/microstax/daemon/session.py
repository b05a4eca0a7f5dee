"""The daemon's bridge to the identity layer: it owns the ``IdentityService`` of the editor's
session, turns its events into notifications, and arms timers so the client hears about
expiries when they happen.

    IdentityChanged / ClusterStateChanged / LoginPrompted  →  microstax/identityChanged,
                                                              microstax/clusterStateChanged,
                                                              microstax/loginPrompt

The service refreshes sessions in the background and reports what it does; the daemon adds a
timer at the session's ``exp`` and at each exchanged token's ``exp`` and notifies when the
state it last reported has changed by then. Issuers of configured environments and of the
clusters the catalog names are the issuers hovers may fetch keys from.

It knows nothing of LSP: the server hands it narrow callbacks (the current settings, send a
notification, warn the user, trust an issuer); the commands (``commands.py``) call it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..jose.exceptions import MessageError
from .settings import Settings

if TYPE_CHECKING:
    from ..identity.models import ClusterState, IdentityEvent, IdentityStatus
    from ..identity.service import IdentityService

log = logging.getLogger("microstax.daemon.session")

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


#: sends a notification to the client: (method, params)
Notify = Callable[[str, dict[str, Any]], None]


class Session:
    """Owns the ``IdentityService`` of the editor's session.

    ``settings`` returns the current settings (config file, default environment); ``notify``
    sends a notification; ``warn`` shows the user a warning; ``trust`` adds an issuer hovers
    may fetch keys from; ``open_service`` makes the service from a config file path
    (``IdentityService.from_config``).
    """

    def __init__(self, settings: Callable[[], Settings], *, notify: Notify, warn: Callable[[str], None],
                 trust: Callable[[str], None],
                 open_service: Callable[[str | None], IdentityService] | None = None) -> None:
        self._settings = settings
        self._send = notify
        self._warn = warn
        self._trust = trust
        self._open_service = open_service
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
            if self._open_service is None:
                from ..identity.service import IdentityService

                self._open_service = IdentityService.from_config
            service = self._open_service(self._settings().config_file)
            self._unsubscribe = service.subscribe(self._on_event)
            service.start_background()
            self._service = service
            self._trust_configured()
        return self._service

    def _trust_configured(self) -> None:
        if self._service is None:
            return
        for env in self._service.config.environments.values():
            self._trust(env.issuer)
            for cluster in env.clusters.values():
                if cluster.exchange.expected_issuer:
                    self._trust(cluster.exchange.expected_issuer)

    def _trust_clusters(self, states: Iterable[ClusterState]) -> None:
        for state in states:
            if state.cluster.issuer:
                self._trust(state.cluster.issuer)

    def start(self) -> None:
        """After ``initialized``: load the config and learn the clusters' issuers in the
        background; a failure is logged, and commands report it when they run."""
        self._spawn(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            service = self.service()
            status = await service.status(self._settings().environment)
        except Exception as exc:
            log.warning("identity: %s", exc.message if isinstance(exc, MessageError) else f"{type(exc).__name__}: {exc}")
            return
        self.seen_status(status)

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

    def reload_config(self) -> None:
        """The config file changed (edited, or another one set): read it again if the service
        is loaded; a bad file raises the identity layer's ``ConfigError``."""
        if self._service is None:
            return
        self._service.reload_config(self._settings().config_file)
        self._trust_configured()

    def reconfigure(self) -> None:
        """The config file setting changed: read it again (a bad file is shown as a warning)."""
        try:
            self.reload_config()
        except Exception as exc:
            message = exc.message if isinstance(exc, MessageError) else str(exc)
            log.warning("the MicroStax config file: %s", message)
            self._warn(f"MicroStax config: {message}")

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
            self._send(method, params)
        except Exception:
            log.exception("could not send %s", method)

    def _on_event(self, event: IdentityEvent) -> None:
        from ..identity.models import ClusterStateChanged, IdentityChanged

        now = time.time()
        log.info("identity event: %s", type(event).__name__)
        if isinstance(event, IdentityChanged):
            self.seen_status(event.status)
            self._reported[f"identity:{event.status.environment}"] = _identity_key(event.status, now)
        elif isinstance(event, ClusterStateChanged):
            self.seen_cluster(event.state)
            self._reported[f"cluster:{event.state.cluster.environment}:{event.state.name}"] = \
                _cluster_key(event.state, now)
        self._notify(event.method, event.to_json())

    def seen_status(self, status: IdentityStatus, *, report: bool = False) -> None:
        """Remember a status (one a command answered, or an event), arm its timers, and
        (``report``) notify if it changed."""
        now = time.time()
        key = f"identity:{status.environment}"
        self._trust_clusters(status.clusters)
        if report and self._reported.get(key) != _identity_key(status, now):
            self._notify(IDENTITY_CHANGED, status.to_json(now))
        self._reported[key] = _identity_key(status, now)
        if status.session is not None and status.session.expires_at > now:
            self._arm(key, status.session.expires_at, self._session_expired, status.environment)
        for state in status.clusters:
            self.seen_cluster(state, report=report)

    def seen_cluster(self, state: ClusterState, *, report: bool = False) -> None:
        """``seen_status`` for one cluster's state."""
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
        self.seen_status(status, report=True)

    async def _cluster_expired(self, env: str, name: str) -> None:
        if self._service is None:
            return
        for state in await self._service.list_clusters(env):
            if state.name == name:
                self.seen_cluster(state, report=True)
