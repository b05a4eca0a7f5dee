"""The identity layer against the real platform on loopback: sign-in, federate, status, sign-out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.harness.platform import PlatformServer

from microstax.adapters.secrets import MemorySecretStore
from microstax.identity import (
    ClusterStateChanged,
    ExchangeDenied,
    FederateRequest,
    IdentityChanged,
    LoginPrompted,
    NotSignedIn,
    UnknownCluster,
    UnknownEnvironment,
)
from microstax.jose import Policy, verify
from microstax.oauth.tokens import TOKEN_TYPE_ACCESS

EU = "stx-eu-west-cluster"
AP = "stx-ap-south-cluster"


async def test_login_federate_status_logout(platform: PlatformServer, client_config: Path, service_factory) -> None:
    secrets = MemorySecretStore()
    svc = service_factory(client_config, secrets=secrets)
    events: list[object] = []
    svc.subscribe(events.append)
    prompts = []
    info = await svc.login("dev", on_prompt=prompts.append)
    assert info.subject == "dev"
    assert info.issuer == platform.issuer
    assert info.refreshable
    assert len(prompts) == 1 and prompts[0].user_code and prompts[0].verification_uri.startswith(platform.issuer)
    assert any(isinstance(e, LoginPrompted) for e in events)
    assert any(isinstance(e, IdentityChanged) and e.reason == "signed_in" for e in events)
    assert secrets.get("session:dev") is None  # a keyring entry is too small for it
    assert svc.record_store().get("session:dev") is not None  # sealed, its key in the keyring

    tok = await svc.federate(FederateRequest(target=EU, service="payments"))
    assert not tok.from_cache
    assert tok.audience == EU
    claims = tok.description.claims
    assert claims["aud"] == EU
    assert claims["sub"] == "spiffe://dev.microstax.local/env/dev/svc/payments"
    assert claims["act"]["sub"] == "dev"
    assert tok.description.verdict.classical == "verified" and tok.description.verdict.pq == "verified"
    assert any(isinstance(e, ClusterStateChanged) and e.state.name == EU for e in events)
    doc = tok.to_json()
    assert doc["v"] == 1 and doc["token"] == tok.token
    assert doc["cluster"]["token"]["state"] == "exchanged"
    assert doc["headerBudget"]["limit"] == 8192 and doc["headerBudget"]["exceeds"] is False
    assert doc["summary"]["audience"] == [EU]

    again = await svc.federate(FederateRequest(target=EU, service="payments"))
    assert again.from_cache and again.token == tok.token

    # a cluster with its own issuer: exchanged at its endpoint, verified against its keys
    ap = await svc.federate(FederateRequest(target=AP))
    assert ap.description.claims["iss"] == f"{platform.issuer}/clusters/{AP}"

    status = await svc.status("dev")
    doc = status.to_json()
    assert doc["signedIn"] is True and doc["subject"] == "dev"
    states = {c["name"]: c["token"]["state"] for c in doc["clusters"]}
    assert states[EU] == "exchanged" and states[AP] == "exchanged"
    assert states["stx-us-east-cluster"] == "not_exchanged"
    assert doc["summary"] == "2 of 3 clusters exchanged"
    assert "dev" in doc["label"]

    out = await svc.logout("dev")
    assert out.signed_in is False
    assert svc.record_store().get("session:dev") is None and svc.record_store().get("tokens:dev") is None
    with pytest.raises(NotSignedIn) as err:
        await svc.federate(FederateRequest(target=EU))
    assert err.value.to_json()["action"] == "signIn"


async def test_federated_token_verifies_with_the_platform_jwks(platform: PlatformServer, client_config: Path,
                                                               service_factory) -> None:
    import httpx

    from microstax.jose import KeySet

    svc = service_factory(client_config)
    await svc.login("dev")
    tok = await svc.federate(FederateRequest(target=EU, scopes=("read",)))
    # the two published sets: jwks_uri (classical only) and microstax_pq_jwks_uri (ML-DSA)
    doc = httpx.get(f"{platform.issuer}/.well-known/openid-configuration").json()
    keys = KeySet.from_jwks(httpx.get(doc["jwks_uri"]).json())
    assert not keys.signs_hybrid
    keys = keys.union(KeySet.from_jwks(httpx.get(doc["microstax_pq_jwks_uri"]).json()))
    claims = verify(tok.token, keys, Policy(issuer=platform.issuer, audience=EU, require_pq=True)).claims
    assert claims["scope"] == "read"


async def test_errors_are_clear(platform: PlatformServer, client_config: Path, service_factory) -> None:
    svc = service_factory(client_config)
    await svc.login("dev")
    with pytest.raises(UnknownCluster) as unknown:
        await svc.federate(FederateRequest(target="nope"))
    assert "stx-eu-west-cluster" in unknown.value.message
    with pytest.raises(UnknownEnvironment):
        await svc.federate(FederateRequest(target=EU, environment="nope"))
    with pytest.raises(ExchangeDenied) as denied:
        await svc.federate(FederateRequest(target=EU, scopes=("admin",)))
    data = denied.value.to_json()
    assert data["code"] == "EXCHANGE_DENIED" and data["error"] == "invalid_scope"
    assert EU in data["message"] and platform.token_endpoint in data["message"]
    assert "scope" in data["hint"]
    with pytest.raises(ExchangeDenied) as service_denied:
        await svc.federate(FederateRequest(target=EU, service="no-such-service"))
    assert service_denied.value.details["error"] == "invalid_target"
    status = await svc.status("dev")
    eu = next(c for c in status.clusters if c.name == EU)
    assert eu.token.state == "failed" and eu.token.failure is not None and eu.token.failure.kind == "auth"


async def test_concurrent_logins_share_one_sign_in(platform: PlatformServer, client_config: Path,
                                                   service_factory, state_dir: Path) -> None:
    secrets = MemorySecretStore()
    # two services = two "processes" sharing the keyring and the state dir (file lock)
    one, two = service_factory(client_config, secrets=secrets), service_factory(client_config, secrets=secrets)
    prompts: list[object] = []
    results = await asyncio.gather(*(s.login("dev", on_prompt=prompts.append) for s in (one, two, one, two)))
    assert len(prompts) == 1, "one device code for four callers"
    assert {r.subject for r in results} == {"dev"}
    before = sum(1 for e in platform.audit_events() if e.get("grant", "").endswith("device_code"))
    assert before >= 1


async def test_single_flight_and_silent_refresh(platform: PlatformServer, client_config: Path,
                                                service_factory) -> None:
    svc = service_factory(client_config)
    await svc.login("dev")
    audit_before = len(platform.audit_events())
    tokens = await asyncio.gather(*(svc.federate(FederateRequest(target=EU, service="orders")) for _ in range(10)))
    assert len({t.token for t in tokens}) == 1
    issued = [e for e in platform.audit_events()[audit_before:] if e.get("event") == "issued"]
    assert len(issued) == 1, "ten concurrent callers, one exchange"

    # make the session look old: the next use refreshes it silently (rotating refresh token)
    import time
    from dataclasses import replace

    session = svc.sessions.memory["dev"]
    old = replace(session, obtained_at=time.time() - 870, expires_at=time.time() + 30)
    await svc.sessions.save(old)
    events: list[object] = []
    svc.subscribe(events.append)
    info = await svc.session("dev")
    assert info.expires_at > time.time() + 600
    assert any(isinstance(e, IdentityChanged) and e.reason == "refreshed" for e in events)
    assert svc.sessions.memory["dev"].refresh_token != session.refresh_token


async def test_subject_token_file_workload(platform: PlatformServer, client_config: Path, service_factory,
                                           tmp_path: Path) -> None:
    # a workload's own token (client credentials, scoped to the cluster), kept in a file as a
    # projected service-account token would be
    cc = platform.client_credentials(audience=EU)
    path = tmp_path / "token"
    path.write_text(cc["access_token"])
    svc = service_factory(client_config)
    from microstax.identity import ExchangeDenied, SubjectTokenSource

    request = FederateRequest(target=EU, service="orders", subject=SubjectTokenSource(str(path), "jwt"))
    # The token was issued to demo-workload; the public CLI client may redeem it only where the
    # platform says so (docs/platform-trust.md, "Who may redeem which subject token").
    with pytest.raises(ExchangeDenied, match="may not redeem"):
        await svc.federate(request)

    def redeems_for(doc: dict[str, Any], clients: list[str]) -> None:
        for client in doc["clients"]:
            if client["client_id"] == "microstax-cli":
                client["redeems_for"] = clients
    platform.edit_config(lambda doc: redeems_for(doc, ["demo-workload"]))
    try:
        tok = await svc.federate(request)
    finally:
        platform.edit_config(lambda doc: redeems_for(doc, []))
    assert tok.description.claims["act"]["sub"] == "spiffe://dev.microstax.local/env/dev/svc/default"
    assert platform.audit_events()[-1]["event"] == "issued"
    assert TOKEN_TYPE_ACCESS


async def test_environments_from_the_catalog(platform: PlatformServer, client_config: Path, service_factory) -> None:
    """'staging' is only in the platform's catalog: it is listed, and usable with its own sign-in."""
    secrets = MemorySecretStore()
    svc = service_factory(client_config, secrets=secrets)
    envs = {e.name: e for e in await svc.list_environments()}
    assert envs["dev"].default and envs["dev"].source.startswith("file:")
    assert envs["staging"].source == f"catalog:{platform.issuer}" and not envs["staging"].signed_in
    await svc.login("staging")
    tok = await svc.federate(FederateRequest(target="stx-staging-cluster", environment="staging"))
    assert tok.description.claims["env"] == "staging"
    assert tok.description.claims["sub"] == "spiffe://staging.microstax.local/env/staging/svc/default"
    fresh = service_factory(client_config, secrets=secrets)  # a new process: learns 'staging' on first use
    status = await fresh.status("staging")
    assert status.signed_in and [c.name for c in status.clusters] == ["stx-staging-cluster"]


async def test_a_local_alias_of_a_catalog_environment_federates(
        platform: PlatformServer, tmp_path: Path, service_factory) -> None:
    # The SPIFFE ID names the platform's environment ('dev'), not the local alias ('laptop').
    from tests.identity.helpers import write_config

    config = write_config(tmp_path / "alias.toml", {
        "environments": {"laptop": {"platform": platform.issuer, "catalog_environment": "dev"}},
    })
    svc = service_factory(config, secrets=MemorySecretStore())
    await svc.login("laptop")
    tok = await svc.federate(FederateRequest(target=EU, service="orders", environment="laptop"))
    assert tok.description.claims["sub"] == "spiffe://dev.microstax.local/env/dev/svc/orders"
