"""session.py's timers without a platform: at a session's exp (and an exchanged token's) the
daemon looks again and notifies once, only when what it last reported has changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness.wait import async_wait_until

from microstax.daemon.session import Session
from microstax.daemon.settings import Settings
from microstax.identity.config_model import Config
from microstax.identity.models import (
    ClusterInfo,
    ClusterState,
    IdentityChanged,
    IdentityEvent,
    IdentityStatus,
    SessionInfo,
    TokenState,
)


class Client:
    """What the session's callbacks reach: the notifications sent, the issuers trusted."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.trusted_issuers: set[str] = set()
        self.warnings: list[str] = []

    def session(self, service: FakeService) -> Session:
        """A session over ``service``, opened (subscribed to its events)."""
        session = Session(Settings, notify=lambda method, params: self.sent.append((method, params)),
                          warn=self.warnings.append, trust=self.trusted_issuers.add,
                          open_service=lambda path: service)  # type: ignore[arg-type, return-value]
        session.service()
        return session

    def count(self, method: str) -> int:
        return [m for m, _ in self.sent].count(method)


class FakeService:
    """The part of ``IdentityService`` the session uses, with a status the test sets."""

    def __init__(self, status: IdentityStatus) -> None:
        self.current = status
        self.looked = 0  # status() calls: a timer fired
        self.config = Config(Path("config.toml"), exists=False)
        self.subscribers: list[Callable[[IdentityEvent], None]] = []

    def subscribe(self, fn: Callable[[IdentityEvent], None]) -> Callable[[], None]:
        self.subscribers.append(fn)
        return lambda: self.subscribers.remove(fn)

    def start_background(self) -> None:
        pass

    def emit(self, event: IdentityEvent) -> None:
        for fn in list(self.subscribers):
            fn(event)

    async def status(self, env: str | None = None) -> IdentityStatus:
        self.looked += 1
        return self.current

    async def list_clusters(self, env: str | None = None) -> list[ClusterState]:
        return list(self.current.clusters)

    async def aclose(self) -> None:
        pass


CLUSTER = ClusterInfo("c1", "dev", "https://c1.example", "https://c1.example/token", "c1")


def status(signed_in: bool, exp: float | None, token_exp: float | None) -> IdentityStatus:
    session = SessionInfo("dev", "https://iss.example", "dev", exp) if signed_in and exp else None
    token = TokenState("exchanged", token_exp, time.time(), "default") if token_exp else TokenState()
    return IdentityStatus("dev", signed_in, (ClusterState(CLUSTER, token),), session)


async def test_session_and_token_expiry_are_notified_once():
    now = time.time()
    client = Client()
    before = status(True, now + 0.3, now + 0.2)
    service = FakeService(before)
    session = client.session(service)
    session.seen_status(before)
    assert client.sent == [] and "https://c1.example" in client.trusted_issuers

    service.current = status(False, None, None)  # both gone by then
    # the session's timer sends identityChanged and then, in the same step, any cluster change
    await async_wait_until(lambda: client.count("microstax/identityChanged")
                           and client.count("microstax/clusterStateChanged"), 10,
                           what="both expiries notified")
    assert client.count("microstax/clusterStateChanged") == 1
    assert client.count("microstax/identityChanged") == 1
    identity = next(p for m, p in client.sent if m == "microstax/identityChanged")
    assert identity["signedIn"] is False and "signed out" in identity["label"]
    await session.stop()


async def test_no_duplicate_after_a_service_event():
    now = time.time()
    client = Client()
    before = status(True, now + 0.2, None)
    service = FakeService(before)
    session = client.session(service)
    session.seen_status(before)
    after = status(False, None, None)
    service.current = after
    service.emit(IdentityChanged(after, "expired"))  # the service said it first
    # the session's timer looks again (and would notify in the same step): nothing new
    await async_wait_until(lambda: service.looked, 10, what="the session's expiry timer")
    assert [m for m, _ in client.sent] == ["microstax/identityChanged"]
    await session.stop()
    assert service.subscribers == []
