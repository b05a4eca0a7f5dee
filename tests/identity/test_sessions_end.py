"""Sessions end everywhere: sign-out revokes the session at the real platform (RFC 7009),
offline sign-out still signs out here and says so."""

from __future__ import annotations

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
