"""Claims of the wrong JSON type at the platform: subject tokens (local and upstream) and
private_key_jwt assertions are rejected (400 invalid_grant / 401 invalid_client), never
accepted and never a 500. ``"exp": null`` is not "never expires"."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.harness.platform_inproc import (
    CORP_UPSTREAM,
    EU_WEST,
    ISSUER,
    InProc,
    corp_token,
    jwks_transport,
)

from microstax.jose import HybridSigner, sign
from microstax.jose.compact import b64url_encode
from microstax.jose.keys import SigningKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MakeInProc = Callable[..., Awaitable[InProc]]

#: (claim, value) pairs that each must be refused
BAD_CLAIMS: list[tuple[str, Any]] = [
    ("exp", None), ("exp", True), ("exp", "4102444800"), ("exp", 10**400), ("exp", 1e308),
    ("exp", -1), ("iat", None), ("nbf", None), ("nbf", [0]), ("sub", None), ("sub", 42),
    ("aud", None), ("aud", ["microstax", 7]), ("jti", {"a": 1}), ("scope", ["read"]),
    ("act", "someone"), ("act", None),
]


@pytest.fixture
async def upstreamed(make_inproc: MakeInProc) -> tuple[InProc, HybridSigner]:
    corp = HybridSigner.generate()
    mx = await make_inproc(CORP_UPSTREAM, upstream_transport=jwks_transport(corp))
    return mx, corp


async def test_a_well_typed_upstream_token_is_exchanged(upstreamed: tuple[InProc, HybridSigner]) -> None:
    mx, corp = upstreamed
    r = await mx.exchange(corp_token(corp), service="default", connector_id="corp")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("name", "value"), BAD_CLAIMS)
async def test_upstream_subject_token_with_a_mistyped_claim(
        upstreamed: tuple[InProc, HybridSigner], name: str, value: Any) -> None:
    mx, corp = upstreamed
    r = await mx.exchange(corp_token(corp, **{name: value}), service="default", connector_id="corp")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("name", "value"), BAD_CLAIMS)
async def test_local_subject_token_with_a_mistyped_claim(mx: InProc, name: str, value: Any) -> None:
    session = await mx.session()
    assert (await mx.exchange(session["access_token"], service="default")).status_code == 200
    now = int(time.time())
    # what the platform itself issues to a signed-in user, with one claim replaced
    from microstax.jose import parse
    claims = dict(parse(session["access_token"]).claims)
    claims.update({"iat": now, "exp": now + 300, name: value})
    forged = sign(claims, mx.platform.central.store.signer)
    r = await mx.exchange(forged, service="default")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"


def _jwt_client(key: SigningKey) -> dict[str, Any]:
    return {"clients+": [{
        "client_id": "jwt-workload", "type": "confidential", "jwks": {"keys": [key.public_jwk]},
        "environment": "dev", "service": "orders", "grant_types": ["client_credentials"],
        "scopes": ["read"], "audiences": ["*"]}]}


def _assertion(key: SigningKey, **override: Any) -> str:
    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "kid": key.kid}
    claims: dict[str, Any] = {"iss": "jwt-workload", "sub": "jwt-workload", "aud": ISSUER,
                              "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    claims.update(override)
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url_encode(key.sign(f'{h}.{p}'.encode()))}"


@pytest.mark.parametrize(("name", "value"), [*BAD_CLAIMS, ("iss", None)])
async def test_private_key_jwt_assertion_with_a_mistyped_claim(
        make_inproc: MakeInProc, name: str, value: Any) -> None:
    key = SigningKey.generate("ES256")
    mx = await make_inproc(_jwt_client(key))
    base = {"grant_type": "client_credentials", "audience": EU_WEST,
            "client_assertion_type": ASSERTION_TYPE}
    assert (await mx.token({**base, "client_assertion": _assertion(key)})).status_code == 200
    r = await mx.token({**base, "client_assertion": _assertion(key, **{name: value})})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
