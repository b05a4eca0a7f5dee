"""session.py's timers without a platform: at a session's exp (and an exchanged token's) the
daemon looks again and notifies once, only when what it last reported has changed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from microstax.daemon.session import Session
from microstax.identity.models import (
    ClusterInfo,
    ClusterState,
    IdentityChanged,
    IdentityStatus,
    SessionInfo,
    TokenState,
)


class FakeLS:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.trusted_issuers: set[str] = set()
        self.protocol = self

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.sent.append((method, params))


class FakeService:
    def __init__(self, status: IdentityStatus) -> None:
        self.current = status

    async def status(self, env: str | None = None) -> IdentityStatus:
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
    ls = FakeLS()
    session = Session(ls)  # type: ignore[arg-type]
    before = status(True, now + 0.3, now + 0.2)
    service = FakeService(before)
    session._service = service  # type: ignore[assignment]
    session._seen_status(before, report=False)
    assert ls.sent == [] and "https://c1.example" in ls.trusted_issuers

    service.current = status(False, None, None)  # both gone by then
    await asyncio.sleep(1.2)
    methods = [m for m, _ in ls.sent]
    assert methods.count("microstax/clusterStateChanged") == 1
    assert methods.count("microstax/identityChanged") == 1
    identity = next(p for m, p in ls.sent if m == "microstax/identityChanged")
    assert identity["signedIn"] is False and "signed out" in identity["label"]
    await session.stop()


async def test_no_duplicate_after_a_service_event():
    now = time.time()
    ls = FakeLS()
    session = Session(ls)  # type: ignore[arg-type]
    before = status(True, now + 0.2, None)
    service = FakeService(before)
    session._service = service  # type: ignore[assignment]
    session._seen_status(before, report=False)
    after = status(False, None, None)
    service.current = after
    session._on_event(IdentityChanged(after, "expired"))  # the service said it first
    await asyncio.sleep(0.9)
    assert [m for m, _ in ls.sent] == ["microstax/identityChanged"]
    await session.stop()
