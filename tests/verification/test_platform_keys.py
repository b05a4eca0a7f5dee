"""Issue 11 + 15 against the real platform over HTTP: ``jwks_uri`` is classical only, the PQ
keys are at ``microstax_pq_jwks_uri``, and every verifier of ours (the one policy, the CLI)
still rejects a token whose PQ part was stripped or replaced with a valid ES256 signature made
with the platform's real EC key — unless a configuration says ``classical-only`` explicitly."""

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
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jws as jwc_jws
from tests.harness.platform import MICROSTAX, PlatformServer

from microstax.identity.verification import (
    KeysUnavailable,
    SyncVerifier,
    TrustedIssuer,
    VerificationPolicy,
    Verifier,
)
from microstax.jose import KeySet, parse

from .forge import platform_signer, replaced, stripped

EU_WEST = "stx-eu-west-cluster"
AP_SOUTH = "stx-ap-south-cluster"  # has its own issuer under /clusters/<name> in the dev config


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path_factory.mktemp("pq-keys") / "platform") as server:
        yield server


def issuers(platform: PlatformServer) -> dict[str, tuple[str, Path]]:
    """name -> (issuer URL, key dir) for the central issuer and one per-cluster issuer."""
    return {"central": (platform.issuer, platform.data_dir),
            AP_SOUTH: (platform.cluster_issuer(AP_SOUTH), platform.data_dir / "clusters" / AP_SOUTH)}


def token_of(platform: PlatformServer, which: str) -> str:
    if which == "central":
        return str(platform.client_credentials(audience=EU_WEST)["access_token"])
    return str(platform.client_credentials(audience=AP_SOUTH, issuer=platform.cluster_issuer(AP_SOUTH))["access_token"])


def audience_of(which: str) -> str:
    return EU_WEST if which == "central" else AP_SOUTH


def pq_kid_of(header: dict[str, Any]) -> str:
    protected = header["pq"]["protected"]
    return str(json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))["kid"])


def discovery(issuer: str) -> dict[str, Any]:
    r = httpx.get(f"{issuer}/.well-known/openid-configuration")
    assert r.status_code == 200
    return dict(r.json())


# -- discovery and keys ------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["central", AP_SOUTH])
def test_jwks_uri_is_classical_and_the_pq_set_is_advertised(platform: PlatformServer, which: str) -> None:
    issuer, _ = issuers(platform)[which]
    doc = discovery(issuer)
    assert doc["jwks_uri"] == f"{issuer}/jwks.json"
    assert doc["microstax_pq_jwks_uri"] == f"{issuer}/pq-jwks.json"
    assert doc["microstax_hybrid_signing"] == {"classical": "ES256", "pq": "ML-DSA-65", "header": "pq",
                                               "required": True}
    classical = httpx.get(doc["jwks_uri"]).json()
    pq = httpx.get(doc["microstax_pq_jwks_uri"]).json()
    assert classical["keys"] and all(k["kty"] == "EC" and k["alg"] == "ES256" for k in classical["keys"])
    assert "AKP" not in json.dumps(classical)
    assert pq["keys"] and all(k["kty"] == "AKP" and k["alg"] == "ML-DSA-65" for k in pq["keys"])
    # the token's two kids are found, each in its own set
    token = parse(token_of(platform, which))
    assert token.header["kid"] in {k["kid"] for k in classical["keys"]}
    assert pq_kid_of(token.header) in {k["kid"] for k in pq["keys"]}


def test_classical_libraries_verify_from_jwks_uri_alone_and_jwcrypto_with_the_pq_set(
        platform: PlatformServer) -> None:
    token = token_of(platform, "central")
    doc = discovery(platform.issuer)
    # pyjwt's own JWKS client, given nothing but jwks_uri
    signing_key = pyjwt.PyJWKClient(doc["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = pyjwt.decode(token, signing_key.key, algorithms=["ES256"], audience=EU_WEST,
                          issuer=platform.issuer)
    assert claims["aud"] == EU_WEST
    # jwcrypto: the detached ML-DSA-65 JWS with the key from microstax_pq_jwks_uri
    parsed = parse(token)
    part = parsed.header["pq"]
    pq_set = jwc_jwk.JWKSet.from_json(httpx.get(doc["microstax_pq_jwks_uri"]).text)
    detached = jwc_jws.JWS()
    detached.allowed_algs = ["ML-DSA-65"]
    detached.deserialize(json.dumps({"protected": part["protected"], "payload": parsed.payload_b64,
                                     "signature": part["signature"]}))
    detached.verify(pq_set.get_key(pq_kid_of(parsed.header)))
    assert json.loads(detached.payload) == claims


# -- the one policy ----------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["central", AP_SOUTH])
async def test_verifier_finds_the_pq_keys_from_the_metadata(platform: PlatformServer, which: str) -> None:
    issuer, _ = issuers(platform)[which]
    verifier = Verifier(VerificationPolicy(issuers=(TrustedIssuer(issuer),), audiences=(audience_of(which),)))
    try:
        result = await verifier.verify(token_of(platform, which))
        assert result.valid, result.message
        assert (result.classical.status, result.pq.status) == ("verified", "verified")
        assert result.hybrid_required and result.keys is not None
        assert result.keys.pq_jwks_uri == f"{issuer}/pq-jwks.json"
        assert result.keys.jwks_uris == (f"{issuer}/jwks.json", f"{issuer}/pq-jwks.json")
    finally:
        await verifier.aclose()


@pytest.mark.parametrize("which", ["central", AP_SOUTH])
@pytest.mark.parametrize("forgery", ["stripped", "replaced", "replaced-same-kid"])
async def test_forged_pq_part_is_rejected_where_the_issuer_signs_hybrid(
        platform: PlatformServer, which: str, forgery: str) -> None:
    issuer, key_dir = issuers(platform)[which]
    real = platform_signer(key_dir)
    token = token_of(platform, which)
    forged = {"stripped": lambda: stripped(token, real.classical),
              "replaced": lambda: replaced(token, real.classical),
              "replaced-same-kid": lambda: replaced(token, real.classical, kid=real.pq.kid)}[forgery]()
    policy = VerificationPolicy(issuers=(TrustedIssuer(issuer),), audiences=(audience_of(which),))
    verifier = Verifier(policy)
    try:
        result = await verifier.verify(forged)
    finally:
        await verifier.aclose()
    assert not result.valid
    assert result.classical.status == "verified"  # the ES256 signature is genuinely valid
    assert result.reason == ("pq_missing" if forgery == "stripped" else "pq_invalid")
    assert result.pq.status == ("missing" if forgery == "stripped" else "invalid")
    # the blocking verifier (the CLI's) says the same
    sync = SyncVerifier(policy)
    try:
        assert sync.verify(forged).reason == result.reason
    finally:
        sync.close()


async def test_classical_only_accepts_a_stripped_token_only_when_configured(platform: PlatformServer) -> None:
    real = platform_signer(platform.data_dir)
    forged = stripped(token_of(platform, "central"), real.classical)
    for mode, valid in (("auto", False), ("required", False), ("classical-only", True)):
        trusted = TrustedIssuer(platform.issuer, hybrid=mode)  # type: ignore[arg-type]
        verifier = Verifier(VerificationPolicy(issuers=(trusted,), audiences=(EU_WEST,)))
        try:
            result = await verifier.verify(forged)
            genuine = await verifier.verify(token_of(platform, "central"))
        finally:
            await verifier.aclose()
        assert result.valid is valid, (mode, result.reason)
        assert genuine.valid, (mode, genuine.message)
        if mode == "classical-only":
            assert not result.hybrid_required and result.pq.status == "absent"
            assert genuine.pq.status == "unverifiable"  # not checked: no PQ keys used
            assert result.keys is not None and result.keys.pq_jwks_uri and len(result.keys.jwks_uris) == 1


async def test_untrusted_issuer_and_unreachable_keys(platform: PlatformServer, tmp_path: Path) -> None:
    verifier = Verifier(VerificationPolicy(issuers=(TrustedIssuer("https://elsewhere.invalid"),)))
    try:
        result = await verifier.verify(token_of(platform, "central"))
        assert (result.valid, result.reason) == (False, "untrusted_issuer")
        assert "not a trusted issuer" in (result.message or "")
        with pytest.raises(KeysUnavailable) as caught:
            await verifier.verify(token_of(platform, "central"), issuer="https://elsewhere.invalid")
        assert caught.value.issuer == "https://elsewhere.invalid"
    finally:
        await verifier.aclose()


# -- the CLI -----------------------------------------------------------------------------------
def cli_verify(token: str, *args: str) -> tuple[int, dict[str, Any]]:
    out = subprocess.run([str(MICROSTAX), "identity", "verify", "-", "--json", *args], input=token.encode(),
                         capture_output=True, timeout=60, check=False)
    return out.returncode, json.loads(out.stdout or out.stderr)


@pytest.mark.parametrize("which", ["central", AP_SOUTH])
def test_cli_rejects_stripped_and_replaced_pq_parts(platform: PlatformServer, which: str) -> None:
    issuer, key_dir = issuers(platform)[which]
    real = platform_signer(key_dir)
    token = token_of(platform, which)
    code, doc = cli_verify(token, "--audience", audience_of(which))
    assert code == 0 and doc["valid"], doc
    assert doc["keys"]["jwksUri"] == f"{issuer}/jwks.json"
    assert doc["keys"]["pqJwksUri"] == f"{issuer}/pq-jwks.json"
    assert doc["checks"]["pqRequired"] is True
    for forged, reason in ((stripped(token, real.classical), "pq_missing"),
                           (replaced(token, real.classical), "pq_invalid"),
                           (replaced(token, real.classical, kid=real.pq.kid), "pq_invalid")):
        code, doc = cli_verify(forged)
        assert (code, doc["valid"], doc["reason"]) == (1, False, reason)
        assert doc["summary"]["verdict"]["classical"] == "verified"
    # accepted as classical-only only when asked for explicitly
    code, doc = cli_verify(stripped(token, real.classical), "--hybrid", "classical-only")
    assert (code, doc["valid"], doc["checks"]["pqRequired"]) == (0, True, False)


def test_cli_offline_with_both_key_sets(platform: PlatformServer, tmp_path: Path) -> None:
    doc = discovery(platform.issuer)
    classical, pq = tmp_path / "jwks.json", tmp_path / "pq-jwks.json"
    classical.write_text(httpx.get(doc["jwks_uri"]).text)
    pq.write_text(httpx.get(doc["microstax_pq_jwks_uri"]).text)
    real = platform_signer(platform.data_dir)
    token = token_of(platform, "central")
    code, out = cli_verify(token, "--jwks", str(classical), "--jwks", str(pq))
    assert (code, out["summary"]["verdict"]["pq"]) == (0, "verified")
    code, out = cli_verify(stripped(token, real.classical), "--jwks", str(classical), "--jwks", str(pq))
    assert (code, out["reason"]) == (1, "pq_missing")
    # the classical set alone does not say the issuer signs hybrid: --hybrid required does
    code, out = cli_verify(stripped(token, real.classical), "--jwks", str(classical), "--hybrid", "required")
    assert (code, out["reason"]) == (1, "pq_missing")
    assert KeySet.from_jwks(json.loads(classical.read_text())).signs_hybrid is False
