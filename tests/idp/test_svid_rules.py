"""The JWT-SVID rules of the one verification policy and the controller's Workload API subject,
as pure logic (the real SPIRE round trip is in test_spire.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from microstax.controller.config import parse_config
from microstax.identity.exceptions import ConfigError
from microstax.identity.verification import evaluate, material_from_keys
from microstax.jose import KeySet, describe
from microstax.jose.describe import is_jwt_svid

ISSUER = "https://oidc.spire.test"
SVID_ID = "spiffe://workloads.example.org/ns/shop/sa/orders"
KEY = ec.generate_private_key(ec.SECP256R1())
JWK = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "alg": "ES256", "use": "sig"}
MATERIAL = material_from_keys(ISSUER, KeySet.from_jwks({"keys": [JWK]}), mode="classical-only")


def token(typ: str | None = "JWT", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": SVID_ID, "aud": ["microstax"], "iat": now, "exp": now + 300, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    headers: dict[str, Any] = {"kid": "k1", "typ": typ}  # None: no typ at all
    return jwt.encode(body, KEY, algorithm="ES256", headers=headers)


@pytest.mark.parametrize("typ", ["JWT", "JOSE", None])
def test_a_jwt_svid_is_valid_for_its_audience(typ: str | None) -> None:
    result = evaluate(token(typ), MATERIAL, issuer=ISSUER, audiences=("microstax",))
    assert result.valid, result.message
    assert describe(token(typ)).identity[0] == "jwt-svid"


def test_a_jwt_svid_must_carry_an_audience() -> None:
    for aud in (None, []):
        result = evaluate(token(aud=aud), MATERIAL, issuer=ISSUER)
        assert not result.valid and result.reason == "missing_claim", result.message


def test_a_jwt_svid_for_another_audience_is_refused() -> None:
    result = evaluate(token(), MATERIAL, issuer=ISSUER, audiences=("stx-eu-west-cluster",))
    assert not result.valid and result.reason == "audience_mismatch", result.reason


def test_typ_jwt_without_a_spiffe_id_is_still_a_typ_mismatch() -> None:
    for sub in ("alice", "spiffe://", "spiffe://workloads.example.org", "spiffe://td/p?q=1"):
        assert not is_jwt_svid({"typ": "JWT"}, {"sub": sub})
        result = evaluate(token(sub=sub), MATERIAL, issuer=ISSUER, audiences=("microstax",))
        assert not result.valid and result.reason == "typ_mismatch", (sub, result.reason)


def test_an_access_token_with_a_spiffe_subject_stays_a_spiffe_identity() -> None:
    assert describe(token("at+jwt")).identity[0] == "spiffe"
    assert not is_jwt_svid({"typ": "id_token+jwt"}, {"sub": SVID_ID})


def _controller(subject: str) -> str:
    return ('version = 1\n[defaults]\nissuer = "https://platform.test"\n[[workload]]\nname = "w"\n'
            'environment = "dev"\nservice = "orders"\ntargets = ["c"]\noutput = "/tmp/{workload}.jwt"\n'
            f"subject = {subject}\n")


def test_the_controller_takes_a_workload_api_subject() -> None:
    import tomllib

    cfg = parse_config(tomllib.loads(_controller(
        '{type = "spiffe", workload_api = "unix:///run/spire/agent/public/api.sock", audience = "microstax"}')))
    subject = cfg.entries[0].subject
    assert subject is not None and subject.file is None
    assert subject.workload_api == "unix:///run/spire/agent/public/api.sock" and subject.audience == "microstax"


@pytest.mark.parametrize(("subject", "says"), [
    ('{type = "spiffe", workload_api = "unix:///s.sock"}', "audience"),
    ('{type = "kubernetes", workload_api = "unix:///s.sock", audience = "a"}', "only type"),
    ('{type = "spiffe", workload_api = "/run/s.sock", audience = "a"}', "unix:///"),
    ('{type = "spiffe", file = "/f", workload_api = "unix:///s.sock", audience = "a"}', "either file"),
    ('{type = "spiffe"}', "either file"),
    ('{type = "spiffe", file = "/f", audience = "a"}', "workload_api subjects"),
])
def test_workload_api_subject_errors(subject: str, says: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(_controller(subject)))
    assert says in str(info.value), str(info.value)


def test_a_policy_can_refuse_jwt_svids_where_access_tokens_are_asked_for() -> None:
    result = evaluate(token(), MATERIAL, issuer=ISSUER, audiences=("microstax",), accept_jwt_svid=False)
    assert not result.valid and result.reason == "typ_mismatch", result.reason


async def test_a_receiver_takes_jwt_svids_only_from_issuers_that_opt_in(tmp_path: Any) -> None:
    """The verifier service's policy refuses SVIDs unless the issuer's table says jwt_svid."""
    from microstax.identity.verification import TrustedIssuer, VerificationPolicy, Verifier
    from microstax.receivers.config import load_config

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [JWK]}))

    def receiver(extra: str) -> VerificationPolicy:
        path = tmp_path / "verifier.toml"
        path.write_text(f'[[issuers]]\nissuer = "{ISSUER}"\njwks = ["{jwks}"]\nhybrid = "classical-only"\n'
                        f'{extra}\n[[routes]]\nprefix = "/"\naudience = "microstax"\n')
        return load_config(path).verification_policy()

    for extra, valid in (("", False), ("jwt_svid = true", True), ("jwt_svid = false", False)):
        verifier = Verifier(receiver(extra))
        try:
            result = await verifier.verify(token(), audiences=("microstax",))
        finally:
            await verifier.aclose()
        assert result.valid is valid, (extra, result.reason, result.message)
    # the CLI's and the editor's policy takes them by default
    verifier = Verifier(VerificationPolicy(issuers=(TrustedIssuer(ISSUER, jwks=(str(jwks),),
                                                                  hybrid="classical-only"),)))
    try:
        assert (await verifier.verify(token(), audiences=("microstax",))).valid
    finally:
        await verifier.aclose()
