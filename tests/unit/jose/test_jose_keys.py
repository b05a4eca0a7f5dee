"""Keys: RFC 7638 thumbprints (AKP per RFC 9964), JWKS loading, key binding, the key store."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from jose_helpers import NOW, b64, base_claims

from microstax.jose import (
    HybridSigner,
    KeySet,
    KeyStore,
    KeyStoreError,
    Policy,
    sign,
    thumbprint,
    verification_key_from_jwk,
    verify,
)

# RFC 7638 §3.1
RFC7638_RSA = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
         "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
         "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQF"
         "h6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc7638_example_thumbprint() -> None:
    assert thumbprint(RFC7638_RSA) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_generated_kids_are_thumbprints(signer: HybridSigner) -> None:
    ec = signer.classical.public_jwk
    akp = signer.pq.public_jwk
    assert signer.classical.kid == thumbprint(ec)
    assert signer.pq.kid == thumbprint(akp)
    # AKP: exactly the members alg, kty, pub, in lexicographic order (RFC 9964)
    canonical = json.dumps({"alg": akp["alg"], "kty": "AKP", "pub": akp["pub"]},
                           separators=(",", ":"))
    assert signer.pq.kid == b64(hashlib.sha256(canonical.encode()).digest())
    canonical_ec = json.dumps({"crv": "P-256", "kty": "EC", "x": ec["x"], "y": ec["y"]},
                              separators=(",", ":"))
    assert signer.classical.kid == b64(hashlib.sha256(canonical_ec.encode()).digest())


def test_published_jwks_shape(signer: HybridSigner) -> None:
    jwks = signer.key_set().to_jwks()
    by_kty = {k["kty"]: k for k in jwks["keys"]}
    assert set(by_kty) == {"EC", "AKP"}
    assert by_kty["EC"]["alg"] == "ES256" and by_kty["EC"]["crv"] == "P-256"
    assert by_kty["AKP"]["alg"] == "ML-DSA-65"
    assert len(by_kty["AKP"]["pub"]) == 2603  # 1952-byte ML-DSA-65 public key, base64url
    for key in jwks["keys"]:
        assert key["use"] == "sig"
        assert not {"d", "priv"} & set(key)


def test_jwks_with_private_material_is_refused(signer: HybridSigner) -> None:
    with pytest.raises(KeyStoreError, match="private"):
        KeySet.from_jwks({"keys": [signer.classical.private_jwk()]})
    with pytest.raises(KeyStoreError, match="private"):
        KeySet.from_jwks({"keys": [signer.pq.private_jwk()]})
    with pytest.raises(KeyStoreError, match="private"):  # a published HMAC secret
        KeySet.from_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})


def test_jwks_skips_what_it_cannot_use(signer: HybridSigner) -> None:
    jwks = {"keys": [signer.classical.public_jwk, {"kty": "oct", "alg": "HS256"},
                     {"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB"}, "junk",
                     {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}]}
    keys = KeySet.from_jwks(jwks)
    assert len(keys) == 1 and keys.get(signer.classical.kid, "ES256") is not None
    assert not keys.signs_hybrid


@pytest.mark.parametrize("doc", [None, [], {"keys": "x"}, {"nokeys": []}])
def test_not_a_jwks(doc: object) -> None:
    with pytest.raises(KeyStoreError):
        KeySet.from_jwks(doc)  # type: ignore[arg-type]


def test_key_is_bound_to_one_algorithm(signer: HybridSigner) -> None:
    jwk = dict(signer.classical.public_jwk, alg="ES384")
    with pytest.raises(KeyStoreError, match="declares alg"):
        verification_key_from_jwk(jwk)
    key = verification_key_from_jwk(signer.classical.public_jwk)
    assert key.alg == "ES256"


def test_point_not_on_curve_is_refused(signer: HybridSigner) -> None:
    jwk = dict(signer.classical.public_jwk, y=signer.classical.public_jwk["x"])
    with pytest.raises(KeyStoreError):
        verification_key_from_jwk(jwk)


def test_small_rsa_keys_are_refused() -> None:
    small = {"kty": "RSA", "n": b64((2**1023 + 1).to_bytes(128, "big")), "e": "AQAB"}
    with pytest.raises(KeyStoreError, match="2048"):
        verification_key_from_jwk(small)


def test_key_store_round_trip_and_mode(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    signer = store.generate()
    assert (store.path.stat().st_mode & 0o777) == 0o600
    loaded = KeyStore(tmp_path).load()
    assert loaded.signer.classical.kid == signer.classical.kid
    assert loaded.signer.pq.kid == signer.pq.kid
    token = sign(base_claims(), loaded.signer)
    assert verify(token, store.published(), Policy(), now=NOW).verdict.valid


def test_key_store_refuses_readable_files(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.generate()
    os.chmod(store.path, 0o644)
    with pytest.raises(KeyStoreError, match="readable by others"):
        KeyStore(tmp_path).load()


def test_key_store_detects_mismatched_halves(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.generate()
    doc = json.loads(store.path.read_text())
    other = HybridSigner.generate()
    doc["keys"][0]["jwk"]["x"] = other.classical.public_jwk["x"]
    store.path.write_text(json.dumps(doc))
    with pytest.raises(KeyStoreError, match="do not match"):
        KeyStore(tmp_path).load()


def test_rotation_keeps_retired_keys_published_until_pruned(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, retain_seconds=600)
    old = store.generate()
    new = store.rotate(now=NOW)
    published = store.published(now=NOW + 10)
    assert {k.kid for k in published} >= {old.classical.kid, old.pq.kid, new.classical.kid}
    assert store.signer.classical.kid == new.classical.kid
    assert store.prune(now=NOW + 601) == 2
    assert old.classical.kid not in {k.kid for k in store.published(now=NOW + 601)}


def test_missing_key_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="microstax keys generate"):
        KeyStore(tmp_path).load()
