"""Third-party Python verifiers: pyjwt (classical part, JWKS only), jwcrypto (both parts; the
PQ part as an RFC 7515 detached JWS with the AKP key of RFC 9964)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from interop_helpers import AUDIENCE, ISSUER, tamper_payload
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws
from jwcrypto.common import JWException

from microstax.jose import HybridSigner, parse


def entry(jwks: dict[str, Any], kty: str) -> dict[str, Any]:
    return next(k for k in jwks["keys"] if k["kty"] == kty)


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- pyjwt: the classical part ---------------------------------------------------------------------
def test_pyjwt_verifies_with_the_jwks_entry(token: str, jwks: dict[str, Any]) -> None:
    key = jwt.PyJWK(entry(jwks, "EC"))
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"].startswith("spiffe://")
    header = jwt.get_unverified_header(token)
    assert header["kid"] == key.key_id and header["typ"] == "at+jwt"


def test_pyjwt_finds_the_key_by_kid_in_the_whole_jwks(token: str, jwks: dict[str, Any]) -> None:
    # a JWKS that also holds the AKP key must still work for a classical-only verifier
    keyset = jwt.PyJWKSet.from_dict(jwks)
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keyset.keys if k.key_id == kid)
    assert jwt.decode(token, key.key, algorithms=["ES256"], audience=AUDIENCE)["iss"] == ISSUER


def test_pyjwt_rejects_a_tampered_payload(token: str, jwks: dict[str, Any]) -> None:
    key = jwt.PyJWK(entry(jwks, "EC"))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tamper_payload(token, sub="admin"), key.key, algorithms=["ES256"],
                   audience=AUDIENCE)


def test_pyjwt_rejects_a_tampered_pq_part(token: str, jwks: dict[str, Any]) -> None:
    # the classical signature covers the whole header, PQ part included: the two are bound
    parsed = parse(token)
    header = dict(parsed.header)
    header["pq"] = dict(header["pq"], signature="A" + header["pq"]["signature"][1:])
    head = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    forged = f"{head}.{parsed.payload_b64}.{token.split('.')[2]}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, jwt.PyJWK(entry(jwks, "EC")).key, algorithms=["ES256"], audience=AUDIENCE)


# -- jwcrypto: the PQ part, detached ------------------------------------------------------------------
def verify_pq_detached(token: str, akp: dict[str, Any]) -> None:
    parsed = parse(token)
    part = parsed.header["pq"]
    detached = jc_jws.JWS()
    detached.deserialize(f"{part['protected']}..{part['signature']}")
    detached.verify(jc_jwk.JWK(**akp), detached_payload=b64decode(parsed.payload_b64))


def test_jwcrypto_verifies_the_pq_part_detached(token: str, jwks: dict[str, Any]) -> None:
    akp = entry(jwks, "AKP")
    verify_pq_detached(token, akp)
    protected = json.loads(b64decode(parse(token).header["pq"]["protected"]))
    assert protected == {"alg": "ML-DSA-65", "kid": akp["kid"]}


def test_jwcrypto_pq_part_fails_over_another_payload(token: str, jwks: dict[str, Any]) -> None:
    with pytest.raises(JWException):
        verify_pq_detached(tamper_payload(token, sub="admin"), entry(jwks, "AKP"))


def test_jwcrypto_pq_part_fails_with_another_key(token: str) -> None:
    other = HybridSigner.generate().pq.public_jwk
    with pytest.raises(JWException):
        verify_pq_detached(token, other)


def test_jwcrypto_akp_thumbprint_is_the_kid(jwks: dict[str, Any]) -> None:
    akp = entry(jwks, "AKP")
    assert jc_jwk.JWK(**akp).thumbprint() == akp["kid"]
    ec = entry(jwks, "EC")
    assert jc_jwk.JWK(**ec).thumbprint() == ec["kid"]


def test_jwcrypto_verifies_the_classical_part(token: str, jwks: dict[str, Any]) -> None:
    compact = jc_jws.JWS()
    compact.deserialize(token)
    compact.verify(jc_jwk.JWK(**entry(jwks, "EC")), alg="ES256")
    assert json.loads(compact.payload)["aud"] == AUDIENCE
