"""The reject list: one test per known attack on JWT verifiers. Each must fail with its reason."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from jose_helpers import NOW, assemble, b64, b64json, base_claims, pq_part

from microstax.jose import MAX_TOKEN_BYTES, HybridSigner, KeySet, Policy, Verdict, check, parse

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
STRICT = Policy(issuer="https://issuer.example", audience="stx-eu-west-cluster")


def hybrid(signer: HybridSigner, claims: dict, **header: object) -> str:
    """A correctly hybrid-signed token whose header also carries ``header``."""
    payload_b64 = b64json(claims)
    full = {"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid, **header,
            "pq": pq_part(signer.pq, payload_b64)}
    return assemble(full, claims, signer.classical, payload_b64=payload_b64)


def rejected(token: str, keys: KeySet, reason: str, policy: Policy = STRICT) -> Verdict:
    verdict, _, error = check(token, keys, policy, now=NOW)
    assert not verdict.valid
    assert verdict.reason == reason, verdict.message
    assert error is not None and error.reason == reason
    return verdict


def test_control_the_unmodified_token_is_valid(signer: HybridSigner, keys: KeySet) -> None:
    verdict, _, _ = check(hybrid(signer, base_claims()), keys, STRICT, now=NOW)
    assert verdict.valid


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_any_case(signer: HybridSigner, keys: KeySet, alg: str) -> None:
    token = assemble({"alg": alg, "typ": "at+jwt", "kid": signer.classical.kid}, base_claims(), None)
    rejected(token, keys, "unsupported_alg")


@pytest.mark.parametrize("secret_form", ["pem", "der", "jwk"])
def test_hs256_with_the_public_key_as_secret(signer: HybridSigner, keys: KeySet,
                                             secret_form: str) -> None:
    public = signer.classical.private_key.public_key()
    secret = {
        "pem": public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "der": public.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk": str(signer.classical.public_jwk).encode(),
    }[secret_form]
    header = {"alg": "HS256", "typ": "at+jwt", "kid": signer.classical.kid}
    signing_input = f"{b64json(header)}.{b64json(base_claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    rejected(f"{signing_input}.{b64(mac)}", keys, "unsupported_alg")


def test_embedded_jwk(signer: HybridSigner, other_signer: HybridSigner, keys: KeySet) -> None:
    # the attacker signs with their own key and ships it in the header
    token = hybrid(other_signer, base_claims(), jwk=other_signer.classical.public_jwk)
    rejected(token, keys, "forbidden_header")


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_key_urls_are_never_followed(signer: HybridSigner, keys: KeySet, member: str) -> None:
    token = hybrid(signer, base_claims(), **{member: "https://attacker.invalid/keys"})
    rejected(token, keys, "forbidden_header")


def test_x5c(signer: HybridSigner, keys: KeySet) -> None:
    token = hybrid(signer, base_claims(), x5c=["MIIBszCCAVmgAwIBAgIUQ"])
    rejected(token, keys, "forbidden_header")


@pytest.mark.parametrize("kid", ["../../../../dev/null", "..", "keys/../../etc/passwd",
                                 "a/b", "k" * 200, "", "kid with spaces", "\u0000"])
def test_kid_path_traversal_and_junk(signer: HybridSigner, keys: KeySet, kid: str) -> None:
    claims = base_claims()
    token = assemble({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims, signer.classical)
    rejected(token, keys, "bad_kid")


def test_kid_of_another_type_is_bad(signer: HybridSigner, keys: KeySet) -> None:
    token = assemble({"alg": "ES256", "typ": "at+jwt", "kid": ["x"]}, base_claims(), signer.classical)
    rejected(token, keys, "bad_kid")


def _with_signature(token: str, signature: bytes) -> str:
    head, payload, _ = token.split(".")
    return f"{head}.{payload}.{b64(signature)}"


def test_ecdsa_r_s_zero(signer: HybridSigner, keys: KeySet) -> None:
    rejected(_with_signature(hybrid(signer, base_claims()), bytes(64)), keys, "bad_signature")


@pytest.mark.parametrize("which", ["r", "s"])
@pytest.mark.parametrize("value", ["n", "n+1", "max"])
def test_ecdsa_r_or_s_at_least_n(signer: HybridSigner, keys: KeySet, which: str, value: str) -> None:
    token = hybrid(signer, base_claims())
    sig = parse(token).signature
    r, s = sig[:32], sig[32:]
    big = {"n": P256_ORDER, "n+1": P256_ORDER + 1, "max": 2**256 - 1}[value].to_bytes(32, "big")
    bad = big + s if which == "r" else r + big
    rejected(_with_signature(token, bad), keys, "bad_signature")


@pytest.mark.parametrize("length", [0, 63, 65, 72])
def test_ecdsa_wrong_signature_length_or_der(signer: HybridSigner, keys: KeySet, length: int) -> None:
    sig = parse(hybrid(signer, base_claims())).signature
    rejected(_with_signature(hybrid(signer, base_claims()), (sig * 2)[:length]), keys, "bad_signature")


def test_tampered_payload(signer: HybridSigner, keys: KeySet) -> None:
    head, _, sig = hybrid(signer, base_claims()).split(".")
    rejected(f"{head}.{b64json(base_claims(sub='admin'))}.{sig}", keys, "bad_signature")


def test_stripped_pq_part_is_a_downgrade(signer: HybridSigner, keys: KeySet) -> None:
    # The attacker can forge the classical signature (the quantum threat) but not the PQ one.
    token = assemble({"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid}, base_claims(),
                     signer.classical)
    verdict = rejected(token, keys, "pq_missing")
    assert (verdict.classical, verdict.pq) == ("verified", "missing")


def test_stripped_pq_part_rejected_when_metadata_says_hybrid(
        signer: HybridSigner, classical_only_keys: KeySet) -> None:
    token = assemble({"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid}, base_claims(),
                     signer.classical)
    rejected(token, classical_only_keys, "pq_missing",
             Policy(issuer=STRICT.issuer, audience=STRICT.audience, require_pq=True))


def _with_pq(signer: HybridSigner, claims: dict, part: dict) -> str:
    payload_b64 = b64json(claims)
    header = {"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid, "pq": part}
    return assemble(header, claims, signer.classical, payload_b64=payload_b64)


def test_pq_part_from_another_key(signer: HybridSigner, other_signer: HybridSigner,
                                  keys: KeySet) -> None:
    claims = base_claims()
    foreign = pq_part(other_signer.pq, b64json(claims))
    verdict = rejected(_with_pq(signer, claims, foreign), keys, "pq_invalid")
    assert (verdict.classical, verdict.pq) == ("verified", "invalid")


def test_pq_part_from_another_key_claiming_our_kid(signer: HybridSigner, other_signer: HybridSigner,
                                                   keys: KeySet) -> None:
    claims = base_claims()
    forged = pq_part(other_signer.pq, b64json(claims), kid=signer.pq.kid)
    rejected(_with_pq(signer, claims, forged), keys, "pq_invalid")


def test_pq_part_over_another_payload(signer: HybridSigner, keys: KeySet) -> None:
    claims = base_claims()
    elsewhere = pq_part(signer.pq, b64json(base_claims(sub="someone-else")))
    rejected(_with_pq(signer, claims, elsewhere), keys, "pq_invalid")


@pytest.mark.parametrize("part", [
    "not-an-object",
    {"protected": "e30"},
    {"protected": "e30", "signature": "AAAA", "extra": "x"},
    {"protected": 1, "signature": "AAAA"},
    {"protected": "e30", "signature": "AAAA"},
    {"protected": b64json({"alg": "ES256", "kid": "x"}), "signature": "AAAA"},
    {"protected": b64json({"alg": "ML-DSA-65", "kid": "x", "jku": "https://x"}), "signature": "AAAA"},
    {"protected": "!!", "signature": "AAAA"},
])
def test_malformed_pq_parts(signer: HybridSigner, keys: KeySet, part: object) -> None:
    claims = base_claims()
    header = {"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid, "pq": part}
    rejected(assemble(header, claims, signer.classical), keys, "pq_invalid")


def test_crit_unknown(signer: HybridSigner, keys: KeySet) -> None:
    token = hybrid(signer, base_claims(), crit=["urn:example:must-understand"],
                   **{"urn:example:must-understand": True})
    rejected(token, keys, "forbidden_header")


def test_alg_switched_to_another_classical_alg(signer: HybridSigner, keys: KeySet) -> None:
    token = hybrid(signer, base_claims())
    _head, payload, sig = token.split(".")
    header = parse(token).header | {"alg": "ES384"}
    rejected(f"{b64json(header)}.{payload}.{sig}", keys, "unknown_kid")


def test_unknown_kid(signer: HybridSigner, other_signer: HybridSigner, keys: KeySet) -> None:
    rejected(hybrid(other_signer, base_claims()), keys, "unknown_kid")


def test_jwe_five_segments(keys: KeySet) -> None:
    jwe = ".".join([b64json({"alg": "RSA-OAEP", "enc": "A256GCM"}), "a", "b", "c", "d"])
    verdict = rejected(jwe, keys, "jwe")
    assert verdict.classical == "not_checked"


def test_four_segments(signer: HybridSigner, keys: KeySet) -> None:
    rejected(hybrid(signer, base_claims()) + ".x", keys, "malformed")


def test_oversized(signer: HybridSigner, keys: KeySet) -> None:
    token = hybrid(signer, base_claims(padding="x" * MAX_TOKEN_BYTES))
    rejected(token, keys, "malformed")


def test_non_utf8(signer: HybridSigner, keys: KeySet) -> None:
    head = b64json({"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid})
    payload = b64(b'{"sub":"\xff\xfe"}')
    rejected(f"{head}.{payload}.AAAA", keys, "malformed")


def test_duplicate_json_keys(signer: HybridSigner, keys: KeySet) -> None:
    # a parser that keeps the first 'sub' and one that keeps the last would disagree
    payload = b64(b'{"iss":"https://issuer.example","sub":"dev","sub":"admin","exp":1900000000}')
    header = {"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid}
    rejected(assemble(header, {}, signer.classical, payload_b64=payload), keys, "malformed")


def test_expired(mint: Callable[..., str], keys: KeySet) -> None:
    rejected(mint(exp=int(NOW) - 3600), keys, "expired")


def test_not_yet_valid(mint: Callable[..., str], keys: KeySet) -> None:
    rejected(mint(nbf=int(NOW) + 3600), keys, "not_yet_valid")
    rejected(mint(iat=int(NOW) + 3600, exp=int(NOW) + 7200), keys, "not_yet_valid")


@pytest.mark.parametrize("iss", ["https://issuer.example/", "https://issuer.example.evil",
                                 "https://ISSUER.example", "http://issuer.example", None, 42])
def test_wrong_issuer(mint: Callable[..., str], keys: KeySet, iss: object) -> None:
    rejected(mint(iss=iss), keys, "issuer_mismatch")


@pytest.mark.parametrize("aud", ["stx-ap-south-cluster", ["a", "b"], [], None, {"x": 1},
                                 "stx-eu-west-cluster-evil"])
def test_wrong_audience(mint: Callable[..., str], keys: KeySet, aud: object) -> None:
    rejected(mint(aud=aud), keys, "audience_mismatch")


@pytest.mark.parametrize("typ", ["JWT", "id_token+jwt", "dpop+jwt", None])
def test_wrong_typ(signer: HybridSigner, keys: KeySet, typ: str | None) -> None:
    claims = base_claims()
    payload_b64 = b64json(claims)
    header: dict[str, object] = {"alg": "ES256", "kid": signer.classical.kid,
                                 "pq": pq_part(signer.pq, payload_b64)}
    if typ is not None:
        header["typ"] = typ
    rejected(assemble(header, claims, signer.classical, payload_b64=payload_b64), keys, "typ_mismatch")
