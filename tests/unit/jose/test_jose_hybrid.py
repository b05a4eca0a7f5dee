"""Hybrid sign/verify, the Policy knobs, the Verdict, and the verified-token cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from jose_helpers import AUDIENCE, ISSUER, NOW, assemble, b64json, base_claims, pq_part

from microstax.jose import (
    PQ_HEADER,
    AudienceMismatch,
    BadSignature,
    ExpiredToken,
    HybridSigner,
    ImmatureToken,
    KeySet,
    MissingClaim,
    Policy,
    TypeMismatch,
    VerifiedTokenCache,
    check,
    parse,
    sign,
    verify,
)
from microstax.jose.compact import b64url_decode, parse_json_object


def test_round_trip(mint: Callable[..., str], keys: KeySet, signer: HybridSigner) -> None:
    result = verify(mint(), keys, Policy(issuer=ISSUER, audience=AUDIENCE), now=NOW)
    assert result.claims["sub"] == "dev"
    verdict = result.verdict
    assert (verdict.valid, verdict.classical, verdict.pq) == (True, "verified", "verified")
    assert verdict.classical_kid == signer.classical.kid
    assert verdict.pq_kid == signer.pq.kid


def test_header_layout(mint: Callable[..., str], signer: HybridSigner) -> None:
    parsed = parse(mint())
    assert list(parsed.header) == ["alg", "typ", "kid", PQ_HEADER]
    assert parsed.header["alg"] == "ES256"
    assert parsed.header["typ"] == "at+jwt"
    part = parsed.header[PQ_HEADER]
    assert set(part) == {"protected", "signature"}
    pq_header = parse_json_object(b64url_decode(part["protected"], "x"), "x")
    assert pq_header == {"alg": "ML-DSA-65", "kid": signer.pq.kid}
    assert len(b64url_decode(part["signature"], "x")) == 3309  # ML-DSA-65 signature size
    assert len(parsed.signature) == 64  # ES256 r||s


def test_extra_header_cannot_override_the_core_members(signer: HybridSigner, keys: KeySet) -> None:
    token = sign(base_claims(), signer, extra_header={"alg": "none", "pq": "x", "cty": "demo"})
    parsed = parse(token)
    assert parsed.header["alg"] == "ES256"
    assert parsed.header["cty"] == "demo"
    assert verify(token, keys, now=NOW).verdict.valid


def test_policy_is_frozen_and_hashable() -> None:
    policy = Policy(issuer=ISSUER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.issuer = "x"  # type: ignore[misc]
    assert hash(policy) == hash(Policy(issuer=ISSUER))


def test_audience_list_must_contain_the_verifier(mint: Callable[..., str], keys: KeySet) -> None:
    token = mint(aud=["other", AUDIENCE])
    assert verify(token, keys, Policy(audience=AUDIENCE), now=NOW).verdict.valid
    with pytest.raises(AudienceMismatch):
        verify(token, keys, Policy(audience="third"), now=NOW)


def test_leeway_applies_to_exp(mint: Callable[..., str], keys: KeySet) -> None:
    token = mint(exp=int(NOW) - 20)
    assert verify(token, keys, Policy(leeway=30), now=NOW).verdict.valid
    with pytest.raises(ExpiredToken):
        verify(token, keys, Policy(leeway=10), now=NOW)


def test_required_claims(mint: Callable[..., str], keys: KeySet, signer: HybridSigner) -> None:
    claims = base_claims()
    del claims["exp"]
    with pytest.raises(MissingClaim):
        verify(sign(claims, signer), keys, now=NOW)
    assert verify(sign(claims, signer), keys, Policy(required_claims=()), now=NOW).verdict.valid
    with pytest.raises(MissingClaim):
        verify(mint(exp="soon"), keys, now=NOW)


def test_typ_policy(signer: HybridSigner, keys: KeySet) -> None:
    jwt_typ = sign(base_claims(), signer, typ="JWT")
    with pytest.raises(TypeMismatch):
        verify(jwt_typ, keys, now=NOW)
    assert verify(jwt_typ, keys, Policy(typ=None), now=NOW).verdict.valid
    assert verify(jwt_typ, keys, Policy(typ=("jwt",)), now=NOW).verdict.valid
    app = sign(base_claims(), signer, typ="application/at+jwt")
    assert verify(app, keys, now=NOW).verdict.valid


def test_require_pq_false_accepts_classical_only(signer: HybridSigner, keys: KeySet) -> None:
    claims = base_claims()
    token = assemble({"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid}, claims,
                     signer.classical)
    verdict, _, _ = check(token, keys, Policy(require_pq=False), now=NOW)
    assert (verdict.valid, verdict.pq) == (True, "absent")


def test_pq_part_unverifiable_when_verifier_has_no_pq_keys(
        mint: Callable[..., str], classical_only_keys: KeySet) -> None:
    verdict, _, _ = check(mint(), classical_only_keys, now=NOW)
    assert (verdict.valid, verdict.classical, verdict.pq) == (True, "verified", "unverifiable")
    # ...but when the verifier was told the issuer signs hybrid, an uncheckable PQ part fails
    verdict, _, _ = check(mint(), classical_only_keys, Policy(require_pq=True), now=NOW)
    assert (verdict.valid, verdict.reason) == (False, "pq_invalid")


def test_check_reports_both_verdicts_on_failure(mint: Callable[..., str], keys: KeySet) -> None:
    verdict, parsed, error = check(mint(exp=int(NOW) - 3600), keys, now=NOW)
    assert parsed is not None and isinstance(error, ExpiredToken)
    assert (verdict.valid, verdict.classical, verdict.pq, verdict.reason) == \
        (False, "verified", "verified", "expired")


def test_verify_error_carries_the_verdict(mint: Callable[..., str], keys: KeySet) -> None:
    with pytest.raises(ExpiredToken) as info:
        verify(mint(exp=int(NOW) - 3600), keys, now=NOW)
    assert info.value.verdict.reason == "expired"  # type: ignore[attr-defined]


def test_rotation_old_and_new_keys_verify(mint: Callable[..., str], signer: HybridSigner) -> None:
    new = HybridSigner.generate()
    both = KeySet([*signer.key_set(), *new.key_set()])
    assert verify(mint(), both, now=NOW).verdict.valid
    assert verify(sign(base_claims(), new), both, now=NOW).verdict.valid


def test_cache_hit_and_clock(mint: Callable[..., str], keys: KeySet) -> None:
    cache = VerifiedTokenCache()
    token = mint()
    first = cache.verify(token, keys, now=NOW)
    again = cache.verify(token, keys, now=NOW + 1)
    assert again is first
    assert (cache.hits, cache.misses) == (1, 1)
    with pytest.raises(ExpiredToken):  # time-based claims are re-checked on a hit
        cache.verify(token, keys, now=NOW + 3600)


def test_cache_keys_on_policy_and_key_set(mint: Callable[..., str], keys: KeySet) -> None:
    cache = VerifiedTokenCache()
    token = mint()
    cache.verify(token, keys, now=NOW)
    with pytest.raises(AudienceMismatch):
        cache.verify(token, keys, Policy(audience="other"), now=NOW)
    cache.verify(token, KeySet(list(keys)), now=NOW)
    assert cache.misses == 3


def test_cache_never_caches_failures_and_is_bounded(mint: Callable[..., str], keys: KeySet) -> None:
    cache = VerifiedTokenCache(max_entries=2)
    bad = mint(exp=int(NOW) - 3600)
    for _ in range(2):
        with pytest.raises(ExpiredToken):
            cache.verify(bad, keys, now=NOW)
    assert len(cache) == 0
    for i in range(3):
        cache.verify(mint(jti=f"j{i}"), keys, now=NOW)
    assert len(cache) == 2


def test_pq_signature_covers_the_payload_not_the_classical_header(signer: HybridSigner) -> None:
    claims = base_claims()
    payload_b64 = b64json(claims)
    part = pq_part(signer.pq, payload_b64)
    key = signer.pq.verification_key()
    sig = b64url_decode(part["signature"], "x")
    assert key.verify(sig, f"{part['protected']}.{payload_b64}".encode())
    assert not key.verify(sig, payload_b64.encode())


def test_cache_hit_needs_the_whole_token(mint: Callable[..., str], keys: KeySet) -> None:
    cache = VerifiedTokenCache()
    token = mint()
    cache.verify(token, keys, now=NOW)
    head, _payload, sig = token.split(".")
    forged = f"{head}.{b64json(base_claims(sub='admin'))}.{sig}"  # same signature segment
    with pytest.raises(BadSignature):
        cache.verify(forged, keys, now=NOW)
    assert cache.hits == 0
    assert cache.verify(f" {token}\n", keys, now=NOW).claims["sub"] == "dev"
    assert cache.hits == 1


def test_cache_window_honours_nbf_and_leeway(mint: Callable[..., str], keys: KeySet) -> None:
    cache = VerifiedTokenCache()
    token = mint(nbf=int(NOW), iat=int(NOW))
    cache.verify(token, keys, now=NOW)
    assert cache.verify(token, keys, now=NOW - 29).claims  # within the 30 s leeway
    with pytest.raises(ImmatureToken):
        cache.verify(token, keys, now=NOW - 31)
    assert cache.verify(token, keys, now=NOW + 240 + 29).claims
    with pytest.raises(ExpiredToken):
        cache.verify(token, keys, now=NOW + 240 + 31)


def test_reprs_never_show_the_token(mint: Callable[..., str], keys: KeySet) -> None:
    token = mint()
    result = verify(token, keys, now=NOW)
    for obj in (parse(token), result, result.verdict):
        text = repr(obj)
        assert token.split(".")[1] not in text and token.split(".")[2] not in text
