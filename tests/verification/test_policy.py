"""The one verification policy (identity/verification/) on its own: older mixed key sets,
issuers that sign classical only, configuration, audiences, the verified-token cache, and an
offline verify that never imports the HTTP stack."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.harness.loopback_http import Issuer

from microstax.identity.verification import (
    PolicyError,
    SyncVerifier,
    TrustedIssuer,
    VerificationPolicy,
    Verifier,
    evaluate,
    material_from_keys,
)
from microstax.jose import HybridSigner, KeySet, sign

from .forge import replaced, stripped

AUD = "stx-eu-west-cluster"


def claims(issuer: str, **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": issuer, "sub": "svc", "aud": AUD, "iat": now, "exp": now + 300, **extra}


@pytest.fixture(scope="module")
def signer() -> HybridSigner:
    return HybridSigner.generate()


# -- issuers run by others ---------------------------------------------------------------------
@pytest.mark.parametrize("advertises", [True, False])
async def test_an_older_mixed_jwks_still_verifies_and_still_protects(signer: HybridSigner, advertises: bool) -> None:
    """EC + AKP in one jwks_uri set, no microstax_pq_jwks_uri: valid tokens verify; the AKP key
    alone says the issuer signs hybrid, so a stripped or replaced PQ part is refused."""
    with Issuer(signer.key_set().to_jwks(), hybrid=advertises) as idp:
        assert "microstax_pq_jwks_uri" not in idp.metadata
        token = sign(claims(idp.issuer), signer)
        verifier = Verifier(VerificationPolicy(issuers=(TrustedIssuer(idp.issuer),), audiences=(AUD,)))
        try:
            good = await verifier.verify(token)
            assert good.valid and good.pq.status == "verified" and good.hybrid_required, good.message
            assert good.keys is not None and good.keys.pq_jwks_uri is None
            assert (await verifier.verify(stripped(token, signer.classical))).reason == "pq_missing"
            assert (await verifier.verify(replaced(token, signer.classical))).reason == "pq_invalid"
        finally:
            await verifier.aclose()


async def test_a_classical_only_issuer_is_verified_on_es256(signer: HybridSigner) -> None:
    """An IdP that publishes EC keys and says nothing of hybrid (Keycloak, Dex): its tokens carry
    no PQ part and verify on ES256; advertising hybrid without a PQ set fails closed."""
    classical_only = KeySet([signer.classical.verification_key()]).to_jwks()
    with Issuer(classical_only, hybrid=False) as idp:
        token = stripped(sign(claims(idp.issuer), signer), signer.classical)
        sync = SyncVerifier(VerificationPolicy(issuers=(TrustedIssuer(idp.issuer),), audiences=(AUD,)))
        try:
            result = sync.verify(token)
            assert result.valid and result.pq.status == "absent" and not result.hybrid_required
        finally:
            sync.close()
    with Issuer(classical_only, hybrid=True) as idp:  # says hybrid, publishes no PQ key
        token = sign(claims(idp.issuer), signer)
        sync = SyncVerifier(VerificationPolicy(issuers=(TrustedIssuer(idp.issuer),), audiences=(AUD,)))
        try:
            assert sync.verify(stripped(token, signer.classical)).reason == "pq_missing"
            assert sync.verify(token).reason == "pq_invalid"  # names a key it does not publish
        finally:
            sync.close()


# -- the pure parts ----------------------------------------------------------------------------
def test_audiences_are_any_of_and_typ_and_issuer_are_checked(signer: HybridSigner) -> None:
    material = material_from_keys("https://iss.example", signer.key_set())
    token = sign(claims("https://iss.example", aud=["a", "b"]), signer)
    assert evaluate(token, material, issuer="https://iss.example", audiences=("x", "b")).valid
    wrong = evaluate(token, material, issuer="https://iss.example", audiences=("x", "y"))
    assert (wrong.valid, wrong.reason) == (False, "audience_mismatch")
    assert evaluate(token, material, issuer="https://other.example").reason == "issuer_mismatch"
    assert evaluate(token, material, issuer=None, typ=("JWT",)).reason == "typ_mismatch"
    assert evaluate(token, material, issuer=None, typ=None).valid
    assert wrong.to_json()["classical"] == {"status": "verified", "kid": signer.classical.kid}


async def test_the_verified_token_cache_is_keyed_by_the_whole_token(signer: HybridSigner, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(signer.key_set().to_jwks()))
    trusted = TrustedIssuer("https://iss.example", jwks=(str(path),))
    verifier = Verifier(VerificationPolicy(issuers=(trusted,), audiences=(AUD,)))
    token = sign(claims("https://iss.example"), signer)
    first = await verifier.verify(token)
    second = await verifier.verify(token)
    assert first.valid and not first.cached and second.valid and second.cached
    # a different audience is a different question
    other = await verifier.verify(token, audiences=("elsewhere",))
    assert not other.cached and other.reason == "audience_mismatch"
    # one character changed in the PQ signature: not a hit, and invalid
    head, payload, sig = token.split(".")
    forged = f"{head[:-8]}{'A' if head[-8] != 'A' else 'B'}{head[-7:]}.{payload}.{sig}"
    result = await verifier.verify(forged)
    assert not result.cached and not result.valid
    assert verifier.cache.hits == 1
    await verifier.aclose()


def test_an_unusable_jwks_file_is_a_policy_error(signer: HybridSigner, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text("not json")
    sync = SyncVerifier(VerificationPolicy(issuers=(TrustedIssuer("https://i.example", jwks=(str(path),)),)))
    with pytest.raises(PolicyError, match="is not valid JSON") as caught:
        sync.verify(sign(claims("https://i.example"), signer))
    assert caught.value.code == "jwks"


def test_offline_verify_never_imports_httpx(signer: HybridSigner, tmp_path: Path) -> None:
    """``identity verify --jwks FILE`` (through the one policy) loads no HTTP stack."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(signer.key_set().to_jwks()))
    token = sign(claims("https://i.example"), signer)
    code = (
        "import sys\n"
        "from microstax.cli.main import main\n"
        "try:\n"
        f"    code = main(['identity', 'verify', '-', '--jwks', {str(path)!r}, '--json'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "sys.stderr.write(f'exit={code} httpx={\"httpx\" in sys.modules}\\n')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=token.encode(), capture_output=True,
                         timeout=60, check=False)
    assert b"exit=0 httpx=False" in out.stderr, out.stderr.decode()
    assert json.loads(out.stdout)["valid"] is True


async def test_a_token_seen_again_is_answered_from_the_cache_before_parsing(
        signer: HybridSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    """The verifier service's hot path: a cached verdict for the very same token (same issuer
    pin, audiences and typ) is found by the token's digest, without parsing it again, while the
    issuer's keys are hot; any other question, or a moment past ``exp``, takes the full path."""
    from microstax.identity.verification import verifier as verifier_module

    prechecks: list[str] = []
    original = verifier_module.precheck

    def counting(token: object, policy: object) -> object:
        prechecks.append("x")
        return original(token, policy)  # type: ignore[arg-type]

    monkeypatch.setattr(verifier_module, "precheck", counting)
    now = [float(int(time.time()))]
    with Issuer(signer.key_set().to_jwks()) as idp:
        verifier = Verifier(VerificationPolicy(issuers=(TrustedIssuer(idp.issuer),), audiences=(AUD,)),
                            clock=lambda: now[0])
        try:
            token = sign({**claims(idp.issuer), "iat": int(now[0]), "exp": int(now[0]) + 20}, signer)
            first = await verifier.verify(token)
            assert first.valid and not first.cached and len(prechecks) == 1
            again = await verifier.verify(token)
            assert again.valid and again.cached and len(prechecks) == 1  # not parsed again
            other = await verifier.verify(token, audiences=("elsewhere",))
            assert other.reason == "audience_mismatch" and len(prechecks) == 2
            now[0] += 20 + verifier.policy.leeway + 1  # past exp: the cached "valid" must not answer
            late = await verifier.verify(token)
            assert not late.valid and late.reason == "expired", late.reason
        finally:
            await verifier.aclose()


def test_a_verdict_served_from_the_cache_is_the_verdict_marked_cached(signer: HybridSigner,
                                                                       tmp_path: Path) -> None:
    """The cache keeps every field of the verdict (``Verification.as_cached`` is
    ``dataclasses.replace(…, cached=True)``, written out), for valid and invalid tokens."""
    import dataclasses

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.key_set().to_jwks()))
    issuer = "https://issuer.example"
    sync = SyncVerifier(VerificationPolicy(issuers=(TrustedIssuer(issuer, jwks=(str(jwks),)),), audiences=(AUD,)))
    good = sign(claims(issuer), signer)
    for token in (good, stripped(good, signer.classical), sign(claims(issuer, aud="elsewhere"), signer)):
        first = sync.verify(token)
        again = sync.verify(token)
        assert not first.cached and again.cached
        assert again == dataclasses.replace(first, cached=True)
        assert first.as_cached() == dataclasses.replace(first, cached=True)
