"""The verify order: a token that fails a check needing no keys (malformed, alg none or not
allow-listed, a key URL or ``crit`` in its header, a ``kid`` that cannot be a lookup key, a
misshapen PQ part, claims of the wrong JSON type) is rejected as invalid before anything
fetches a key set. A real issuer on loopback counts every request it gets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hardening_helpers import b64, dumps
from tests.harness.loopback_http import Issuer

from microstax.jose import HybridSigner, Policy, parse, precheck, sign

SIGNER = HybridSigner.generate()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer(SIGNER.key_set().to_jwks()) as server:
        yield server


def _claims(iss: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": iss, "sub": "dev", "aud": "microstax", "iat": now, "exp": now + 300, **extra}


def _reheader(token: str, **changes: Any) -> str:
    """``token`` with header members changed (None removes), the rest kept (signature stale)."""
    parsed = parse(token)
    header = dict(parsed.header)
    for name, value in changes.items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    return f"{b64(dumps(header).encode())}.{parsed.payload_b64}.{b64(parsed.signature)}"


def structurally_bad(iss: str) -> dict[str, str]:
    good = sign(_claims(iss), SIGNER)
    return {
        "alg-none": _reheader(good, alg="none"),
        "alg-HS256": _reheader(good, alg="HS256"),
        "jku": _reheader(good, jku=f"{iss}/jwks.json"),
        "embedded-jwk": _reheader(good, jwk=SIGNER.classical.public_jwk),
        "crit": _reheader(good, crit=["exp"]),
        "no-kid": _reheader(good, kid=None),
        "kid-list": _reheader(good, kid=["a"]),
        "kid-huge": _reheader(good, kid="k" * 5000),
        "pq-string": _reheader(good, pq="x"),
        "pq-alg": _reheader(good, pq={"protected": b64(b'{"alg":"ML-DSA-1","kid":"k"}'),
                                      "signature": "AAAA"}),
        "exp-null": sign(_claims(iss, exp=None), SIGNER),
        "aud-number": sign(_claims(iss, aud=5), SIGNER),
        "sub-object": sign(_claims(iss, sub={"a": 1}), SIGNER),
        "two-segments": good.rsplit(".", 1)[0],
        "jwe": "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
    }


def test_precheck_refuses_each_and_passes_a_good_token() -> None:
    for name, token in structurally_bad("https://i.example").items():
        _, error = precheck(token, Policy(typ=None))
        assert error is not None, name
    parsed, error = precheck(sign(_claims("https://i.example"), SIGNER))
    assert error is None and parsed is not None


def _verify_sync(issuer: Issuer, token: str) -> Any:
    from microstax.identity.verification import SyncVerifier, TrustedIssuer, VerificationPolicy
    policy = VerificationPolicy(issuers=(TrustedIssuer(issuer.issuer),), typ=None)
    verifier = SyncVerifier(policy)
    try:
        return verifier.verify(token)
    finally:
        verifier.close()


def test_the_sync_verifier_fetches_nothing_for_a_misshapen_token(issuer: Issuer) -> None:
    for name, token in structurally_bad(issuer.issuer).items():
        result = _verify_sync(issuer, token)
        assert not result.valid, name
        assert sum(issuer.hits.values()) == 0, (name, dict(issuer.hits))
    assert _verify_sync(issuer, sign(_claims(issuer.issuer), SIGNER)).valid  # the control
    assert sum(issuer.hits.values()) > 0


async def test_the_async_verifier_fetches_nothing_for_a_misshapen_token(issuer: Issuer) -> None:
    from microstax.identity.verification import TrustedIssuer, VerificationPolicy, Verifier
    verifier = Verifier(VerificationPolicy(issuers=(TrustedIssuer(issuer.issuer),), typ=None))
    try:
        for name, token in structurally_bad(issuer.issuer).items():
            assert not (await verifier.verify(token)).valid, name
        assert sum(issuer.hits.values()) == 0, dict(issuer.hits)
        assert (await verifier.verify(sign(_claims(issuer.issuer), SIGNER))).valid
        assert sum(issuer.hits.values()) > 0
    finally:
        await verifier.aclose()


def test_cli_verify_fetches_nothing_for_a_misshapen_token(issuer: Issuer, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from microstax.cli import exit_codes
    from microstax.cli.main import main
    token_file = tmp_path / "token"
    for name, token in structurally_bad(issuer.issuer).items():
        token_file.write_text(token)
        code = main(["identity", "verify", "--token-file", str(token_file), "--typ", "any",
                     "--issuer", issuer.issuer, "--json"])
        out = capsys.readouterr().out
        assert code == exit_codes.INVALID, (name, out)
        assert json.loads(out)["valid"] is False
    assert sum(issuer.hits.values()) == 0, dict(issuer.hits)


async def test_the_daemon_verify_command_fetches_nothing(issuer: Issuer) -> None:
    from microstax.daemon.keysource import JwksSource
    from microstax.daemon.tokens import verify
    from microstax.daemon.verifycache import IssuerKeys
    source = JwksSource()
    keys = IssuerKeys(source, bound=10.0)
    try:
        for name, token in structurally_bad(issuer.issuer).items():
            if name in ("two-segments", "jwe"):
                continue  # not a JWS at all: the command answers INVALID_TOKEN
            result = await verify(token, keys, issuer=issuer.issuer)
            assert result["valid"] is False and result["reason"], name
        assert sum(issuer.hits.values()) == 0, dict(issuer.hits)
        assert (await verify(sign(_claims(issuer.issuer), SIGNER), keys, issuer=issuer.issuer))["valid"]
        assert sum(issuer.hits.values()) > 0
    finally:
        keys.clear()
        await source.aclose()
