"""Sessions end everywhere: sign-out revokes the session at the real platform (RFC 7009),
offline sign-out still signs out here and says so, and a process that holds the session in
memory (the daemon) notices a sign-out or sign-in done by another process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from tests.harness.platform import PlatformServer
from tests.identity.helpers import write_config

from microstax.adapters.secrets import MemorySecretStore
from microstax.identity import FederateRequest, IdentityChanged, NotSignedIn
from microstax.identity.session import SessionStore

EU = "stx-eu-west-cluster"


def _refresh(platform: PlatformServer, refresh_token: str) -> httpx.Response:
    return httpx.post(platform.token_endpoint, data={
        "grant_type": "refresh_token", "client_id": "microstax-cli", "refresh_token": refresh_token})


async def test_logout_revokes_the_session_at_the_platform(platform: PlatformServer, client_config: Path,
                                                          service_factory) -> None:
    secrets = MemorySecretStore()
    svc = service_factory(client_config, secrets=secrets)
    await svc.login("dev")
    stored = SessionStore(svc.record_store()).load("dev")
    assert stored is not None and stored.refresh_token
    events: list[object] = []
    svc.subscribe(events.append)
    out = await svc.logout("dev")
    assert (out.signed_in, out.revocation, out.revocation_error) == (False, "revoked", None)
    assert out.to_json()["revocation"] == "revoked"
    assert any(isinstance(e, IdentityChanged) and e.reason == "signed_out" for e in events)
    r = _refresh(platform, stored.refresh_token)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    revoked = [e for e in platform.audit_events() if e["event"] == "revoked"]
    assert revoked and revoked[-1]["client_id"] == "microstax-cli" and revoked[-1]["subject"] == "dev"
    # signed out already: nothing to revoke, still fine
    again = await svc.logout("dev")
    assert again.revocation == "none" and again.signed_in is False


async def test_offline_logout_signs_out_here_and_says_so(tmp_path: Path, service_factory) -> None:
    with PlatformServer(tmp_path / "platform") as platform:
        config = write_config(tmp_path / "config.toml", {
            "default_environment": "dev", "defaults": {"timeout": 2.0},
            "environments": {"dev": {"platform": platform.issuer}}})
        secrets = MemorySecretStore()
        svc = service_factory(config, secrets=secrets)
        await svc.login("dev")
        await svc.federate(FederateRequest(target=EU))
        stored = SessionStore(svc.record_store()).load("dev")
        assert stored is not None and stored.refresh_token
    # the platform is gone: sign-out cannot revoke, and still signs out here
    out = await svc.logout("dev")
    assert (out.signed_in, out.revocation) == (False, "failed")
    assert out.revocation_error and "could not connect" in out.revocation_error
    assert stored.refresh_token not in out.revocation_error
    assert out.to_json()["revocationError"] == out.revocation_error
    assert SessionStore(svc.record_store()).load("dev") is None
    with pytest.raises(NotSignedIn):
        await svc.federate(FederateRequest(target=EU))


async def _until(predicate, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"not seen: {what}"
        await asyncio.sleep(0.02)


async def test_a_sign_out_elsewhere_ends_the_session_held_in_memory(platform: PlatformServer, client_config: Path,
                                                                    service_factory) -> None:
    """Two processes on one state dir and one keyring: the daemon-like one holds the session in
    memory; a sign-out in the other ends it there at its next use, and its upkeep reports it."""
    keyring = MemorySecretStore()
    daemon, terminal = service_factory(client_config, secrets=keyring), service_factory(client_config, secrets=keyring)
    events: list[IdentityChanged] = []
    daemon.subscribe(lambda e: events.append(e) if isinstance(e, IdentityChanged) else None)
    await daemon.login("dev")
    before = await daemon.federate(FederateRequest(target=EU))
    assert (await daemon.status("dev")).signed_in
    events.clear()

    out = await terminal.logout("dev")
    assert out.revocation == "revoked"
    status = await daemon.status("dev")  # the next use sees it: no token from memory
    assert status.signed_in is False
    assert next(c for c in status.clusters if c.name == EU).token.state == "not_exchanged"
    with pytest.raises(NotSignedIn):
        await daemon.federate(FederateRequest(target=EU))
    assert [e.reason for e in events] == ["signed_out"] and not events[0].status.signed_in

    # a sign-in elsewhere is picked up by the background upkeep, and reported
    events.clear()
    daemon.start_background(tick=0.05)
    await terminal.login("dev")
    await _until(lambda: any(e.reason == "signed_in" for e in events), "signed in elsewhere")
    after = await daemon.federate(FederateRequest(target=EU))
    assert not after.from_cache and after.token != before.token
    # and a sign-out elsewhere too, without any call into the daemon
    events.clear()
    await terminal.logout("dev")
    await _until(lambda: any(e.reason == "signed_out" for e in events), "signed out elsewhere")
    assert not (await daemon.status("dev")).signed_in


async def test_the_session_is_read_once_while_nothing_changes(platform: PlatformServer, client_config: Path,
                                                              service_factory) -> None:
    """Serving from memory costs a stat, not a keyring read or a decryption."""
    svc = service_factory(client_config)
    await svc.login("dev")
    store = svc.record_store()
    reads = 0
    original = store.get

    def counting(name: str) -> str | None:
        nonlocal reads
        reads += 1
        return original(name)

    store.get = counting  # type: ignore[method-assign]
    for _ in range(5):
        await svc.federate(FederateRequest(target=EU))
        await svc.status("dev")
    assert reads == 0
