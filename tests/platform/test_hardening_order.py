"""The platform refuses a subject token on its shape before it fetches an upstream issuer's
keys: alg none, a key URL in the header, no kid, claims of the wrong type cost no request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tests.harness.platform_inproc import InProc

from microstax.jose import HybridSigner, parse, sign
from microstax.jose.compact import b64url_encode

CORP = "https://idp.corp.test"
MakeInProc = Callable[..., Awaitable[InProc]]


def _reheader(token: str, **changes: Any) -> str:
    import json
    parsed = parse(token)
    header = {k: v for k, v in {**parsed.header, **changes}.items() if v is not None}
    return (f"{b64url_encode(json.dumps(header).encode())}.{parsed.payload_b64}."
            f"{b64url_encode(parsed.signature)}")


async def test_no_upstream_key_fetch_for_a_misshapen_subject_token(make_inproc: MakeInProc) -> None:
    corp = HybridSigner.generate()
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return httpx.Response(200, json=corp.key_set().to_jwks())

    mx = await make_inproc({
        "upstreams": [{"connector_id": "corp", "issuer": CORP, "jwks_uri": f"{CORP}/jwks",
                       "audience": "microstax", "subject_prefix": "corp:"}],
        "policy+": [{"name": "corp-alice", "actors": ["corp:alice"], "environment": "dev",
                     "services": ["default"], "scopes": ["read"]}],
    }, upstream_transport=httpx.MockTransport(handler))
    now = int(time.time())
    claims = {"iss": CORP, "sub": "alice", "aud": "microstax", "iat": now, "exp": now + 300}
    good = sign(claims, corp, typ="JWT")
    bad = [_reheader(good, alg="none"), _reheader(good, alg="HS256"),
           _reheader(good, jku=f"{CORP}/evil"), _reheader(good, kid=None), _reheader(good, kid=[1]),
           _reheader(good, crit=["exp"]), sign({**claims, "exp": None}, corp, typ="JWT"),
           sign({**claims, "aud": 5}, corp, typ="JWT"), sign({**claims, "sub": None}, corp, typ="JWT")]
    for token in bad:
        r = await mx.exchange(token, service="default", connector_id="corp")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert requests == []
    r = await mx.exchange(good, service="default", connector_id="corp")  # the control
    assert r.status_code == 200, r.text
    assert requests
