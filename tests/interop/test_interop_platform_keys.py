"""Other people's libraries against the real platform's split key sets: pyjwt and panva/jose
verify the classical part with the ``jwks_uri`` set alone (which now holds no AKP key), jwcrypto
verifies the ML-DSA-65 part with the ``microstax_pq_jwks_uri`` set."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from interop_helpers import tamper_payload
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jws as jwc_jws
from test_interop_node import node_project
from tests.harness.platform import PlatformServer

from microstax.jose import parse

__all__ = ["node_project"]

AUDIENCE = "stx-eu-west-cluster"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path_factory.mktemp("interop-platform") / "platform") as server:
        yield server


@pytest.fixture(scope="module")
def published(platform: PlatformServer) -> dict[str, Any]:
    doc = httpx.get(f"{platform.issuer}/.well-known/openid-configuration").json()
    return {"doc": doc, "jwks": httpx.get(doc["jwks_uri"]).json(),
            "pq_jwks": httpx.get(doc["microstax_pq_jwks_uri"]).json()}


@pytest.fixture
def platform_token(platform: PlatformServer) -> str:
    return str(platform.client_credentials(audience=AUDIENCE)["access_token"])


def test_the_jwks_uri_set_is_what_every_classical_library_can_parse(published: dict[str, Any]) -> None:
    assert {k["kty"] for k in published["jwks"]["keys"]} == {"EC"}
    assert {k["kty"] for k in published["pq_jwks"]["keys"]} == {"AKP"}
    # pyjwt loads every key of the set (no "unusable key" skipped)
    assert len(pyjwt.PyJWKSet.from_dict(published["jwks"]).keys) == len(published["jwks"]["keys"])


def test_pyjwt_from_jwks_uri_alone(platform: PlatformServer, published: dict[str, Any],
                                   platform_token: str) -> None:
    client = pyjwt.PyJWKClient(published["doc"]["jwks_uri"])
    key = client.get_signing_key_from_jwt(platform_token).key
    claims = pyjwt.decode(platform_token, key, algorithms=["ES256"], audience=AUDIENCE, issuer=platform.issuer)
    assert claims["aud"] == AUDIENCE
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(tamper_payload(platform_token, sub="admin"), key, algorithms=["ES256"],
                     audience=AUDIENCE, issuer=platform.issuer)


def test_jwcrypto_verifies_the_pq_part_with_the_pq_set(published: dict[str, Any], platform_token: str) -> None:
    parsed = parse(platform_token)
    part = parsed.header["pq"]
    kid = json.loads(base64.urlsafe_b64decode(part["protected"] + "=" * (-len(part["protected"]) % 4)))["kid"]
    key_set = jwc_jwk.JWKSet.from_json(json.dumps(published["pq_jwks"]))

    def check(payload_b64: str) -> Any:
        detached = jwc_jws.JWS()
        detached.allowed_algs = ["ML-DSA-65"]
        detached.deserialize(json.dumps({"protected": part["protected"], "payload": payload_b64,
                                         "signature": part["signature"]}))
        detached.verify(key_set.get_key(kid))
        return json.loads(detached.payload)

    assert check(parsed.payload_b64) == parsed.claims
    with pytest.raises(jwc_jws.InvalidJWSSignature):
        check(parse(tamper_payload(platform_token, sub="admin")).payload_b64)
    assert jwc_jwk.JWKSet.from_json(json.dumps(published["jwks"])).get_key(kid) is None  # not at jwks_uri


def test_panva_jose_from_jwks_uri_alone(node_project: Path, platform: PlatformServer,
                                        published: dict[str, Any], platform_token: str) -> None:
    def node(token: str) -> dict[str, Any]:
        payload = json.dumps({"token": token, "jwks": published["jwks"], "issuer": platform.issuer,
                              "audience": AUDIENCE})
        result = subprocess.run(["node", "verify.mjs"], cwd=node_project, input=payload,
                                capture_output=True, text=True, timeout=60, check=False)
        doc = json.loads(result.stdout)
        assert (result.returncode == 0) == doc["ok"], result.stderr
        return dict(doc)

    good = node(platform_token)
    assert good["ok"] and good["payload"]["aud"] == AUDIENCE and "pq" in good["header"]
    bad = node(tamper_payload(platform_token, sub="admin"))
    assert not bad["ok"] and bad["code"] == "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"
