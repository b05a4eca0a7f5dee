"""Token exchange (RFC 8693): federate, narrowing, delegation/act, may_act, bad subjects."""

from __future__ import annotations

import time

from tests.harness.platform_inproc import AP_SOUTH, EU_WEST, ISSUER, US_EAST, InProc, spiffe

from microstax.jose import HybridSigner, sign
from microstax.jose.compact import b64url_decode, b64url_encode

ACCESS = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"


async def test_federate_for_a_service_maps_onto_rfc8693(mx: InProc) -> None:
    session = await mx.session()
    r = await mx.exchange(session["access_token"], audience=EU_WEST, service="payments",
                          requested_token_type=ACCESS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert body["expires_in"] == 300 and body["scope"] == "read write"
    claims = mx.verify(body["access_token"], EU_WEST)
    assert claims["sub"] == spiffe("payments")
    assert claims["act"] == {"sub": "dev"}
    assert claims["aud"] == EU_WEST and claims["cluster"] == EU_WEST and claims["env"] == "dev"
    assert claims["client_id"] == "microstax-cli" and claims["scope"] == "read write"
    events = mx.audit_events()
    issued = [e for e in events if e["event"] == "issued" and e["jti"] == claims["jti"]]
    assert issued and issued[0]["subject"] == "dev" and issued[0]["service"] == "payments"
    assert issued[0]["actor"] == "dev"
    assert issued[0]["audience"] == EU_WEST


async def test_scope_only_narrows(mx: InProc) -> None:
    token = (await mx.session())["access_token"]
    r = await mx.exchange(token, service="default", scope="read")
    assert r.status_code == 200 and r.json()["scope"] == "read"
    r = await mx.exchange(token, service="default", scope="read admin")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_audience_and_service_errors(mx: InProc) -> None:
    token = (await mx.session())["access_token"]
    cases = [
        ({"audience": "nowhere", "service": "default"}, "invalid_target"),
        ({"audience": EU_WEST, "service": "inventory"}, "invalid_target"),  # not deployed there
        ({"audience": AP_SOUTH, "service": "default"}, "invalid_target"),  # has its own issuer
        ({"audience": EU_WEST, "service": None}, "invalid_request"),  # no resource for a user
        ({"audience": None, "service": "default"}, "invalid_request"),
    ]
    for kwargs, error in cases:
        r = await mx.exchange(token, **kwargs)  # type: ignore[arg-type]
        assert r.json()["error"] == error, (kwargs, r.text)
    r = await mx.exchange(token, service="default", audience=[EU_WEST, US_EAST])  # type: ignore[arg-type]
    assert r.json()["error"] == "invalid_target"
    r = await mx.exchange(token, service="default", resource="https://example.com/api")
    assert r.json()["error"] == "invalid_target"
    # staging: the dev user may act only for 'default' there, with 'read'
    r = await mx.exchange(token, audience="stx-staging-cluster",
                          resource="spiffe://staging.microstax.local/env/staging/svc/default")
    assert r.status_code == 200 and r.json()["scope"] == "read"


async def test_policy_denial_is_invalid_target_and_audited(mx: InProc) -> None:
    workload = await mx.cc_token(EU_WEST)  # spiffe default, read write
    r = await mx.exchange(workload, service="payments", auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"
    assert "policy" in r.json()["error_description"]
    denied = [e for e in mx.audit_events() if e["event"] == "denied"]
    assert denied[-1]["subject"] == spiffe("default") and denied[-1]["service"] == "payments"
    assert denied[-1]["reason"].startswith("invalid_target")
    assert denied[-1]["jti"] is None


async def test_workload_acts_for_another_service_with_narrowed_scope(mx: InProc) -> None:
    workload = await mx.cc_token(EU_WEST)
    r = await mx.exchange(workload, service="orders", auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 200, r.text
    claims = mx.verify(r.json()["access_token"], EU_WEST)
    assert claims["sub"] == spiffe("orders") and claims["scope"] == "read"
    assert claims["act"] == {"sub": spiffe("default")}
    r = await mx.exchange(workload, service="orders", scope="write", auth=("demo-workload", mx.demo_secret))
    assert r.json()["error"] == "invalid_scope"
    # a cluster-scoped subject cannot be widened to another cluster
    r = await mx.exchange(workload, audience=US_EAST, service="orders",
                          auth=("demo-workload", mx.demo_secret))
    assert r.json()["error"] == "invalid_target"


async def test_self_narrowing_without_resource(mx: InProc) -> None:
    workload = await mx.cc_token(EU_WEST)
    r = await mx.exchange(workload, audience=None, scope="read", auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 200, r.text
    claims = mx.verify(r.json()["access_token"], EU_WEST)
    assert claims["sub"] == spiffe("default") and claims["scope"] == "read" and "act" not in claims
    narrowed = r.json()["access_token"]
    r = await mx.exchange(narrowed, audience=None, scope="write", auth=("demo-workload", mx.demo_secret))
    assert r.json()["error"] == "invalid_scope"


async def test_nested_act_for_chains(mx: InProc) -> None:
    session = (await mx.session())["access_token"]
    as_default = (await mx.exchange(session, service="default")).json()["access_token"]
    assert mx.verify(as_default, EU_WEST)["act"] == {"sub": "dev"}
    r = await mx.exchange(as_default, service="orders", auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 200, r.text
    claims = mx.verify(r.json()["access_token"], EU_WEST)
    assert claims["sub"] == spiffe("orders")
    assert claims["act"] == {"sub": spiffe("default"), "act": {"sub": "dev"}}
    assert claims["scope"] == "read"


async def test_actor_token_delegation_and_may_act(make_inproc) -> None:  # type: ignore[no-untyped-def]
    mx = await make_inproc({"policy+": [{
        "name": "agent-for-payments", "actors": [spiffe("agent")], "environment": "dev",
        "services": ["payments"], "clusters": [EU_WEST], "scopes": ["read"]}]})
    now = int(time.time())
    agent = mx.mint({"sub": spiffe("agent"), "aud": EU_WEST, "scope": "read", "client_id": "x"})
    payments = mx.mint({"sub": spiffe("payments"), "aud": EU_WEST, "scope": "read write",
                        "client_id": "microstax-cli"})
    r = await mx.exchange(payments, audience=EU_WEST, actor_token=agent, actor_token_type=ACCESS)
    assert r.status_code == 200, r.text
    claims = mx.verify(r.json()["access_token"], EU_WEST)
    assert claims["sub"] == spiffe("payments") and claims["act"] == {"sub": spiffe("agent")}
    assert claims["scope"] == "read"
    # may_act naming someone else: refused
    restricted = mx.mint({"sub": spiffe("payments"), "aud": EU_WEST, "scope": "read",
                          "may_act": {"sub": spiffe("someone-else")}})
    r = await mx.exchange(restricted, audience=EU_WEST, actor_token=agent, actor_token_type=ACCESS)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "may_act" in r.json()["error_description"]
    # may_act naming the actor authorises it even without a policy rule
    stranger = mx.mint({"sub": spiffe("stranger"), "aud": EU_WEST, "scope": "read"})
    allowed = mx.mint({"sub": spiffe("orders"), "aud": EU_WEST, "scope": "read write",
                       "may_act": {"sub": spiffe("stranger")}})
    r = await mx.exchange(allowed, audience=EU_WEST, actor_token=stranger, actor_token_type=JWT,
                          scope="write")
    assert r.status_code == 200, r.text
    assert mx.verify(r.json()["access_token"], EU_WEST)["act"] == {"sub": spiffe("stranger")}
    # without may_act and without policy: denied
    plain = mx.mint({"sub": spiffe("orders"), "aud": EU_WEST, "scope": "read",
                     "client_id": "microstax-cli"})
    r = await mx.exchange(plain, audience=EU_WEST, actor_token=stranger, actor_token_type=ACCESS)
    assert r.json()["error"] == "invalid_target"
    # actor_token without its type
    r = await mx.exchange(plain, audience=EU_WEST, actor_token=stranger)
    assert r.json()["error"] == "invalid_request"
    del now


async def test_bad_subject_tokens_are_invalid_grant(mx: InProc) -> None:
    session = (await mx.session())["access_token"]
    expired = mx.mint({"sub": "dev", "aud": "microstax", "scope": "federate"}, lifetime=-600)
    foreign_signer = HybridSigner.generate()
    now = int(time.time())
    foreign = sign({"iss": "https://evil.example", "sub": "dev", "aud": "microstax", "scope": "federate",
                    "iat": now, "exp": now + 300}, foreign_signer)
    forged = sign({"iss": ISSUER, "sub": "dev", "aud": "microstax", "scope": "federate",
                   "iat": now, "exp": now + 300}, foreign_signer)
    header_b64, payload_b64, sig = session.split(".")
    header = __import__("json").loads(b64url_decode(header_b64, "h"))
    header.pop("pq")
    stripped = f"{b64url_encode(__import__('json').dumps(header).encode())}.{payload_b64}.{sig}"
    for bad in ["garbage", "a.b.c", expired, foreign, forged, stripped, session[:-4] + "AAAA"]:
        r = await mx.exchange(bad, service="default")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        assert bad not in r.text
    r = await mx.exchange(session, service="default",
                          subject_token_type="urn:ietf:params:oauth:token-type:saml2")
    assert r.json()["error"] == "invalid_request"
    r = await mx.exchange(session, service="default", requested_token_type="urn:x")
    assert r.json()["error"] == "invalid_request"
    no_federate = mx.mint({"sub": "dev", "aud": "microstax", "scope": "openid",
                           "client_id": "microstax-cli"})
    assert (await mx.exchange(no_federate, service="default")).json()["error"] == "invalid_scope"
    assert (await mx.exchange(session, service="default")).status_code == 200
    assert not any(bad in line for line in (mx.data_dir / "audit.log").read_text().splitlines()
                   for bad in (session, expired))


async def test_per_cluster_issuer_trusts_central(mx: InProc) -> None:
    session = (await mx.session())["access_token"]
    path = f"/clusters/{AP_SOUTH}/oauth/token"
    r = await mx.exchange(session, audience=AP_SOUTH, service="payments", path=path, connector_id="central")
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    claims = mx.verify(token, AP_SOUTH, cluster_issuer=AP_SOUTH)
    assert claims["iss"] == f"{ISSUER}/clusters/{AP_SOUTH}"
    assert claims["sub"] == spiffe("payments") and claims["act"] == {"sub": "dev"}
    # connector_id is optional when the issuer is recognisable; unknown connectors are refused
    assert (await mx.exchange(session, audience=AP_SOUTH, service="default", path=path)).status_code == 200
    r = await mx.exchange(session, audience=AP_SOUTH, service="default", path=path, connector_id="corp")
    assert r.json()["error"] == "invalid_request"
    # this issuer only issues for its cluster
    r = await mx.exchange(session, audience=EU_WEST, service="default", path=path)
    assert r.json()["error"] == "invalid_target"
    # the central issuer does not accept the cluster issuer's tokens as subjects
    r = await mx.exchange(token, audience=EU_WEST, service="payments")
    assert r.json()["error"] == "invalid_grant"
