"""client_credentials and every client authentication method (in process)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.harness.platform_inproc import EU_WEST, ISSUER, US_EAST, InProc, spiffe

from microstax.jose import parse
from microstax.jose.keys import SigningKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def test_client_credentials_basic_issues_an_rfc9068_hybrid_token(mx: InProc) -> None:
    r = await mx.cc()
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["cache-control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    assert 0 < body["expires_in"] <= 600
    parsed = parse(body["access_token"])
    assert parsed.header["typ"] == "at+jwt" and parsed.header["alg"] == "ES256" and "pq" in parsed.header
    claims = mx.verify(body["access_token"], EU_WEST)
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= set(claims)
    assert claims["sub"] == spiffe("default")
    assert claims["aud"] == EU_WEST and claims["cluster"] == EU_WEST and claims["env"] == "dev"
    assert claims["client_id"] == "demo-workload"
    assert claims["exp"] - claims["iat"] == body["expires_in"]


async def test_client_secret_post(mx: InProc) -> None:
    r = await mx.token({"grant_type": "client_credentials", "audience": US_EAST, "scope": "read",
                        "client_id": "demo-workload", "client_secret": mx.demo_secret})
    assert r.status_code == 200, r.text
    assert mx.verify(r.json()["access_token"], US_EAST)["scope"] == "read"


async def test_wrong_secret_is_invalid_client_401_with_basic_challenge(mx: InProc) -> None:
    r = await mx.token({"grant_type": "client_credentials", "audience": EU_WEST},
                       auth=("demo-workload", "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")
    r = await mx.token({"grant_type": "client_credentials", "audience": EU_WEST,
                        "client_id": "demo-workload", "client_secret": "wrong"})
    assert r.status_code == 401 and "www-authenticate" not in r.headers


async def test_two_auth_methods_at_once_is_invalid_request(mx: InProc) -> None:
    r = await mx.token({"grant_type": "client_credentials", "audience": EU_WEST,
                        "client_secret": mx.demo_secret}, auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_scope_and_audience_rules(mx: InProc) -> None:
    assert (await mx.cc(scope="read admin")).json()["error"] == "invalid_scope"
    r = await mx.cc(audience="stx-staging-cluster")
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"
    assert (await mx.cc(audience="nowhere")).json()["error"] == "invalid_target"
    r = await mx.token({"grant_type": "client_credentials", "audience": [EU_WEST, US_EAST]},
                       auth=("demo-workload", mx.demo_secret))
    assert r.json()["error"] == "invalid_target"
    r = await mx.token({"grant_type": "client_credentials"}, auth=("demo-workload", mx.demo_secret))
    assert r.json()["error"] == "invalid_request"
    # a cluster with its own issuer is served by that issuer
    assert (await mx.cc(audience="stx-ap-south-cluster")).json()["error"] == "invalid_target"
    r = await mx.token({"grant_type": "client_credentials", "audience": "stx-ap-south-cluster"},
                       auth=("demo-workload", mx.demo_secret),
                       path="/clusters/stx-ap-south-cluster/oauth/token")
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 300  # capped by the cluster's max_lifetime
    mx.verify(r.json()["access_token"], "stx-ap-south-cluster", cluster_issuer="stx-ap-south-cluster")


async def test_public_client_may_not_use_client_credentials(mx: InProc) -> None:
    r = await mx.token({"grant_type": "client_credentials", "client_id": "microstax-cli", "audience": EU_WEST})
    assert r.json()["error"] == "unauthorized_client"


def _jwt_client(key: SigningKey, client_id: str = "jwt-workload") -> dict[str, Any]:
    return {"clients+": [{
        "client_id": client_id, "type": "confidential", "jwks": {"keys": [key.public_jwk]},
        "environment": "dev", "service": "orders", "grant_types": ["client_credentials"],
        "scopes": ["read"], "audiences": ["*"]}]}


def _assertion(key: SigningKey, *, client_id: str = "jwt-workload", aud: str = ISSUER,
               exp_in: int = 60, jti: str | None = None) -> str:
    import json

    from microstax.jose.compact import b64url_encode

    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "kid": key.kid}
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + exp_in,
              "jti": jti or uuid.uuid4().hex}
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url_encode(key.sign(f'{h}.{p}'.encode()))}"


async def test_private_key_jwt_and_replay(make_inproc) -> None:  # type: ignore[no-untyped-def]
    key = SigningKey.generate("ES256")
    mx = await make_inproc(_jwt_client(key))
    assertion = _assertion(key)
    data = {"grant_type": "client_credentials", "audience": EU_WEST,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
    r = await mx.token(data)
    assert r.status_code == 200, r.text
    assert mx.verify(r.json()["access_token"], EU_WEST)["sub"] == spiffe("orders")
    replay = await mx.token(data)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    assert "replay" in replay.json()["error_description"]
    # aud = the token endpoint is accepted too
    r = await mx.token({**data, "client_assertion": _assertion(key, aud=f"{ISSUER}/oauth/token")})
    assert r.status_code == 200


async def test_private_key_jwt_failures(make_inproc) -> None:  # type: ignore[no-untyped-def]
    key = SigningKey.generate("ES256")
    other = SigningKey.generate("ES256")
    mx = await make_inproc(_jwt_client(key))
    base = {"grant_type": "client_credentials", "audience": EU_WEST, "client_assertion_type": ASSERTION_TYPE}
    bad = [
        _assertion(key, aud="https://elsewhere"),
        _assertion(key, exp_in=-120),
        _assertion(key, exp_in=3600),
        _assertion(other),
        _assertion(key, client_id="demo-workload"),
        "not-a-jwt",
    ]
    for assertion in bad:
        r = await mx.token({**base, "client_assertion": assertion})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    r = await mx.token({**base, "client_assertion_type": "urn:x", "client_assertion": _assertion(key)})
    assert r.json()["error"] == "invalid_client"
    assert (await mx.cc()).status_code == 200
