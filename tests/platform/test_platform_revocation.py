"""RFC 7009 revocation and RFC 7662 introspection: in process (ASGITransport) and over real
HTTP. Who may ask, what each answers for tokens that are not the caller's, and that revoking a
refresh token ends its whole family."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from tests.harness.platform import PlatformServer
from tests.harness.platform_inproc import AP_SOUTH, EU_WEST, ISSUER, InProc

from microstax.jose import HybridSigner, SigningKey, sign
from microstax.jose.compact import b64url_encode
from microstax.platform.revocation import is_revoked

CLI = "microstax-cli"
DEMO = "demo-workload"
INACTIVE = {"active": False}


def _classical_only(claims: dict[str, Any], key: SigningKey) -> str:
    """An ES256 JWS with the platform's real EC key and no PQ part (a downgrade)."""
    header = b64url_encode(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}).encode())
    payload = b64url_encode(json.dumps(claims).encode())
    return f"{header}.{payload}.{b64url_encode(key.sign(f'{header}.{payload}'.encode()))}"


async def _revoke(mx: InProc, token: str | None, *, auth: tuple[str, str] | None = None,
                  client_id: str | None = CLI, path: str = "/oauth/revoke", **extra: str) -> httpx.Response:
    data = {**({"token": token} if token is not None else {}), **extra}
    if auth is None and client_id is not None:
        data["client_id"] = client_id
    return await mx.client.post(path, data=data, auth=auth) if auth else await mx.client.post(path, data=data)


async def _introspect(mx: InProc, token: str, *, auth: tuple[str, str] | None = None,
                      path: str = "/oauth/introspect") -> httpx.Response:
    auth = auth or (DEMO, mx.demo_secret)
    return await mx.client.post(path, data={"token": token}, auth=auth)


async def _cluster_token(mx: InProc) -> str:
    """A workload token of the AP cluster's own issuer (from its own token endpoint)."""
    r = await mx.token({"grant_type": "client_credentials", "audience": AP_SOUTH},
                       auth=(DEMO, mx.demo_secret), path=f"/clusters/{AP_SOUTH}/oauth/token")
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _refresh(mx: InProc, refresh_token: str) -> httpx.Response:
    return await mx.token({"grant_type": "refresh_token", "client_id": CLI, "refresh_token": refresh_token})


async def test_discovery_advertises_both_endpoints(mx: InProc) -> None:
    for prefix in ("", f"/clusters/{AP_SOUTH}"):
        doc = (await mx.client.get(f"{prefix}/.well-known/oauth-authorization-server")).json()
        assert doc["revocation_endpoint"] == f"{ISSUER}{prefix}/oauth/revoke"
        assert doc["introspection_endpoint"] == f"{ISSUER}{prefix}/oauth/introspect"
        assert "none" in doc["revocation_endpoint_auth_methods_supported"]
        assert "none" not in doc["introspection_endpoint_auth_methods_supported"]


async def test_revoking_a_refresh_token_ends_the_session_and_its_descendants(mx: InProc) -> None:
    first = await mx.session()
    r = await _refresh(mx, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    claims = mx.verify(second["access_token"], "microstax")
    assert isinstance(claims["sid"], str) and claims["sid"] == mx.verify(first["access_token"], "microstax")["sid"]
    assert not is_revoked(mx.platform, claims)

    # the public client revokes with its client_id alone, naming the rotated-away ancestor
    r = await _revoke(mx, first["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["cache-control"] == "no-store"
    r = await _refresh(mx, second["refresh_token"])  # the live descendant is gone too
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert is_revoked(mx.platform, claims)  # and the session's access tokens with it
    events = [e for e in mx.audit_events() if e["event"] == "revoked"]
    assert events and events[-1]["client_id"] == CLI and events[-1]["subject"] == "dev"
    # revoking again, or a wrong hint, is still 200 (RFC 7009 §2.2)
    assert (await _revoke(mx, second["refresh_token"], token_type_hint="access_token")).status_code == 200


async def test_another_clients_or_unknown_tokens_are_200_and_nothing_changes(mx: InProc) -> None:
    session = await mx.session()
    demo = (DEMO, mx.demo_secret)
    # the confidential demo client names the CLI's refresh token: 200, nothing revoked
    assert (await _revoke(mx, session["refresh_token"], auth=demo)).status_code == 200
    # and the CLI names the demo client's access token: 200, nothing revoked
    cc = await mx.cc_token()
    assert (await _revoke(mx, cc)).status_code == 200
    assert (await _introspect(mx, cc)).json()["active"] is True
    r = await _refresh(mx, session["refresh_token"])
    assert r.status_code == 200, r.text
    for junk in ("x", "a.b.c", "not-a-token" * 50, session["access_token"] + "x"):
        r = await _revoke(mx, junk)
        assert r.status_code == 200 and r.content == b""
    assert not [e for e in mx.audit_events() if e["event"] == "revoked"]


async def test_bad_requests_and_unauthenticated_clients(mx: InProc) -> None:
    r = await _revoke(mx, None)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await _revoke(mx, "x", auth=(DEMO, "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await _revoke(mx, "x", client_id=DEMO)  # a confidential client must authenticate
    assert r.status_code == 401
    r = await _revoke(mx, "x", client_id=None)
    assert r.status_code == 401
    r = await mx.client.post("/oauth/revoke", content=b'{"token":"x"}', headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = await mx.client.get("/oauth/revoke")
    assert r.status_code == 405
    # introspection: a public client is not enough
    r = await mx.client.post("/oauth/introspect", data={"token": "x", "client_id": CLI})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await _introspect(mx, "x", auth=(DEMO, "wrong"))
    assert r.status_code == 401
    r = await mx.client.post("/oauth/introspect", data={"client_id": DEMO}, auth=(DEMO, mx.demo_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_introspection_answers_active_only_for_own_valid_tokens(mx: InProc) -> None:
    cc = await mx.cc_token(scope="read")
    r = await _introspect(mx, cc)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = r.json()
    claims = mx.verify(cc, EU_WEST)
    assert doc == {**claims, "active": True, "token_type": "Bearer"}
    assert doc["client_id"] == DEMO and doc["aud"] == EU_WEST and doc["scope"] == "read"

    session = await mx.session()
    now = int(time.time())
    forged = sign({"iss": ISSUER, "sub": "x", "aud": EU_WEST, "client_id": DEMO, "jti": "f", "iat": now,
                   "exp": now + 60}, HybridSigner.generate())
    stripped = cc.split(".")
    not_hybrid = _classical_only({"iss": ISSUER, "sub": "x", "aud": EU_WEST, "client_id": DEMO, "jti": "h",
                                  "iat": now, "exp": now + 60}, mx.platform.central.store.signer.classical)
    expired = mx.mint({"sub": "x", "aud": EU_WEST, "client_id": DEMO, "iat": now - 900, "exp": now - 600})
    no_jti = mx.mint({"sub": "x", "aud": EU_WEST, "client_id": DEMO, "jti": None})
    for token in (session["access_token"],            # another client's (the CLI's)
                  session["refresh_token"],           # another client's refresh token
                  forged, not_hybrid, expired, no_jti,
                  f"{stripped[0]}.{stripped[1]}.AAAA",  # a broken signature
                  "x", "a.b.c", "ey" * 4000):
        r = await _introspect(mx, token)
        assert (r.status_code, r.json()) == (200, INACTIVE), token[:40]

    # a cluster issuer's token is active at that issuer's endpoint only
    ap = await _cluster_token(mx)
    assert (await _introspect(mx, ap)).json() == INACTIVE
    r = await _introspect(mx, ap, path=f"/clusters/{AP_SOUTH}/oauth/introspect")
    assert r.json()["active"] is True and r.json()["iss"] == f"{ISSUER}/clusters/{AP_SOUTH}"


async def test_revoking_an_access_token_makes_it_inactive(mx: InProc) -> None:
    demo = (DEMO, mx.demo_secret)
    cc, other = await mx.cc_token(), await mx.cc_token()
    assert (await _revoke(mx, cc, auth=demo, token_type_hint="access_token")).status_code == 200
    assert (await _introspect(mx, cc)).json() == INACTIVE
    assert (await _introspect(mx, other)).json()["active"] is True
    event = [e for e in mx.audit_events() if e["event"] == "revoked"][-1]
    assert event["jti"] == mx.verify(cc, EU_WEST)["jti"] and event["client_id"] == DEMO
    # a cluster issuer's token is revoked at its own endpoint
    ap = await _cluster_token(mx)
    cluster_path = f"/clusters/{AP_SOUTH}/oauth"
    assert (await _revoke(mx, ap, auth=demo)).status_code == 200  # at central: not its token
    assert (await _introspect(mx, ap, path=f"{cluster_path}/introspect")).json()["active"] is True
    assert (await _revoke(mx, ap, auth=demo, path=f"{cluster_path}/revoke")).status_code == 200
    assert (await _introspect(mx, ap, path=f"{cluster_path}/introspect")).json() == INACTIVE


def test_revocation_and_introspection_over_http(platform_server: PlatformServer) -> None:
    issuer = platform_server.issuer
    meta = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    session = platform_server.device_login()
    r = httpx.post(meta["revocation_endpoint"], data={"token": session["refresh_token"], "client_id": CLI})
    assert r.status_code == 200 and r.content == b""
    r = httpx.post(platform_server.token_endpoint, data={
        "grant_type": "refresh_token", "client_id": CLI, "refresh_token": session["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    cc = platform_server.client_credentials()["access_token"]
    demo = (DEMO, platform_server.demo_secret)
    r = httpx.post(meta["introspection_endpoint"], data={"token": cc}, auth=demo)
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["client_id"] == DEMO
    assert httpx.post(meta["revocation_endpoint"], data={"token": cc}, auth=demo).status_code == 200
    r = httpx.post(meta["introspection_endpoint"], data={"token": cc}, auth=demo)
    assert r.json() == INACTIVE
    events = [e for e in platform_server.audit_events() if e["event"] == "revoked"]
    assert len(events) == 2
    assert session["refresh_token"] not in platform_server.audit_path.read_text()
