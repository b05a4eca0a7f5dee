"""`microstax keys generate`, `token mint`, `token decode`, `identity verify` as a user runs them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cli_helpers import Result, run
from tests.harness.loopback_http import Issuer

from microstax.jose import HybridSigner, KeySet, Policy, parse, sign, verify

SUMMARY_KEYS = {"subject", "identityKind", "identityDetail", "issuer", "audience", "scopes",
                "actors", "expiresIn", "sizeBytes", "signatures", "verdict"}


def mint(keys_dir: Path, issuer: str, *extra: str) -> str:
    result = run("token", "mint", "--keys", str(keys_dir), "--iss", issuer, "--sub", "dev",
                 "--aud", "stx-eu-west-cluster", *extra)
    assert result.code == 0, result.err
    token = result.out.strip()
    assert result.out.count("\n") == 1 and token.count(".") == 2
    return token


def verify_cli(token: str, *args: str) -> Result:
    return run("identity", "verify", "-", *args, stdin=token, secret=token)


# -- keys generate ------------------------------------------------------------------------------
def test_keys_generate_json_and_files(tmp_path: Path) -> None:
    out = tmp_path / "k"
    result = run("keys", "generate", "--out", str(out), "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert (doc["v"], doc["kind"]) == (1, "keys")
    assert {k["alg"] for k in doc["keys"]} == {"ES256", "ML-DSA-65"}
    assert doc["jwksFile"] == str(out / "jwks.json")
    assert ((out / "keys.json").stat().st_mode & 0o777) == 0o600
    jwks = json.loads((out / "jwks.json").read_text())
    assert {k["kid"] for k in jwks["keys"]} == {k["kid"] for k in doc["keys"]}
    assert all("d" not in k and "priv" not in k for k in jwks["keys"])


def test_keys_generate_refuses_to_overwrite(keys_dir: Path) -> None:
    before = (keys_dir / "keys.json").read_bytes()
    result = run("keys", "generate", "--out", str(keys_dir))
    assert result.code == 2
    assert "already exists" in result.err
    assert (keys_dir / "keys.json").read_bytes() == before


def test_keys_generate_human_output(tmp_path: Path) -> None:
    result = run("keys", "generate", "--out", str(tmp_path / "h"))
    assert result.code == 0
    assert "ES256" in result.out and "ML-DSA-65" in result.out and "jwks.json" in result.out


# -- token mint ---------------------------------------------------------------------------------
def test_mint_prints_a_verifiable_token(keys_dir: Path, signer: HybridSigner) -> None:
    token = mint(keys_dir, "https://issuer.example", "--scope", "read write", "--ttl", "120",
                 "--claim", "env=dev", "--claim", 'act:={"sub": "ci-bot"}', "--claim", "n:=3")
    result = verify(token, signer.key_set(), Policy(issuer="https://issuer.example",
                                                    audience="stx-eu-west-cluster"))
    claims = result.claims
    assert claims["scope"] == "read write" and claims["env"] == "dev" and claims["n"] == 3
    assert claims["act"] == {"sub": "ci-bot"}
    assert claims["exp"] - claims["iat"] == 120
    assert parse(token).header["typ"] == "at+jwt"


def test_mint_claims_json_from_stdin_and_flags_win(keys_dir: Path) -> None:
    result = run("token", "mint", "--keys", str(keys_dir), "--claims-json", "-", "--sub", "flag",
                 stdin=json.dumps({"iss": "https://i.example", "sub": "file", "aud": ["a", "b"],
                                   "cluster": "a"}))
    assert result.code == 0, result.err
    claims = parse(result.out.strip()).claims
    assert (claims["sub"], claims["aud"], claims["cluster"]) == ("flag", ["a", "b"], "a")


def test_mint_json_envelope(keys_dir: Path) -> None:
    result = run("token", "mint", "--keys", str(keys_dir), "--iss", "https://i.example",
                 "--sub", "svc", "--aud", "a", "--json")
    doc = result.json()
    assert (result.code, doc["v"], doc["kind"]) == (0, 1, "minted")
    assert parse(doc["token"]).claims["sub"] == "svc"
    assert set(doc["summary"]) >= SUMMARY_KEYS


@pytest.mark.parametrize("args", [
    ("--sub", "x", "--aud", "a"),                               # no issuer
    ("--iss", "i", "--sub", "x", "--aud", "a", "--claim", "novalue"),
    ("--iss", "i", "--sub", "x", "--aud", "a", "--claim", "n:=not json"),
])
def test_mint_usage_errors(keys_dir: Path, args: tuple[str, ...]) -> None:
    result = run("token", "mint", "--keys", str(keys_dir), *args)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("error: ")


def test_mint_without_keys(tmp_path: Path) -> None:
    result = run("token", "mint", "--keys", str(tmp_path), "--iss", "i", "--sub", "s", "--aud", "a")
    assert result.code == 2
    assert "microstax keys generate" in result.err


# -- token decode -------------------------------------------------------------------------------
def test_decode_stdin_is_marked_unverified(keys_dir: Path) -> None:
    token = mint(keys_dir, "https://issuer.example", "--scope", "federate")
    result = run("token", "decode", "-", stdin=token + "\n", secret=token)
    assert result.code == 0
    assert result.out.startswith("UNVERIFIED: decoded only")
    assert "VALID" not in result.out.replace("UNVERIFIED", "")
    assert '"sub": "dev"' in result.out
    assert "<4412 base64url characters>" in result.out  # the PQ signature is elided
    assert token not in result.out


def test_decode_json_envelope(keys_dir: Path, tmp_path: Path) -> None:
    token = mint(keys_dir, "https://issuer.example")
    path = tmp_path / "token.txt"
    path.write_text(f"Bearer {token}\n")
    result = run("token", "decode", "--token-file", str(path), "--json", secret=token)
    doc = result.json()
    assert (result.code, doc["v"], doc["kind"], doc["verified"]) == (0, 1, "decoded", False)
    assert doc["summary"]["verdict"] == {"classical": "not_checked", "pq": "not_checked",
                                         "reason": None}
    assert doc["claims"]["sub"] == "dev" and doc["header"]["alg"] == "ES256"


def test_decode_argument_form(keys_dir: Path) -> None:
    token = mint(keys_dir, "https://issuer.example")
    assert run("token", "decode", token).code == 0


def test_decode_malformed_is_a_usage_error() -> None:
    result = run("token", "decode", "-", stdin="not-a-token")
    assert result.code == 2
    assert "three segments" in result.err
    json_result = run("token", "decode", "-", "--json", stdin="a.b.c.d.e")
    assert json_result.code == 2
    assert json_result.json()["error"]["code"] == "jwe"


def test_decode_empty_stdin() -> None:
    result = run("token", "decode", "-", stdin="")
    assert (result.code, "standard input is empty" in result.err) == (2, True)


# -- identity verify ----------------------------------------------------------------------------
def test_verify_discovers_the_issuer(keys_dir: Path, issuer: Issuer) -> None:
    token = mint(keys_dir, issuer.issuer, "--scope", "read")
    result = verify_cli(token, "--audience", "stx-eu-west-cluster")
    assert result.code == 0, result.err
    assert result.out.startswith("VALID: classical and post-quantum signatures verify")
    assert issuer.jwks_url in result.out
    assert "PQ part required" in result.out
    assert "taken from the token (pin it with --issuer)" in result.out


def test_verify_json_envelope(keys_dir: Path, issuer: Issuer) -> None:
    token = mint(keys_dir, issuer.issuer)
    result = verify_cli(token, "--json")
    doc = result.json()
    assert result.code == 0
    assert (doc["v"], doc["kind"], doc["valid"], doc["reason"]) == (1, "verification", True, None)
    assert set(doc["summary"]) >= SUMMARY_KEYS
    assert doc["summary"]["verdict"] == {"classical": "verified", "pq": "verified", "reason": None}
    assert doc["keys"]["source"] == "discovery" and doc["keys"]["stale"] is False
    assert doc["checks"]["pqRequired"] is True


def test_verify_expired(signer: HybridSigner, issuer: Issuer) -> None:
    now = int(time.time())
    token = sign({"iss": issuer.issuer, "sub": "dev", "aud": "a", "iat": now - 7200,
                  "exp": now - 3 * 3600 + 600}, signer)
    result = verify_cli(token)
    assert result.code == 1
    assert result.out.startswith("INVALID: expired: ")
    assert "expired 2h 50m ago" in result.out
    doc = verify_cli(token, "--json").json()
    assert (doc["valid"], doc["reason"]) == (False, "expired")


def _stripped(signer: HybridSigner, issuer: str) -> str:
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": signer.classical.kid}).encode())
    payload = b64(json.dumps({"iss": issuer, "sub": "dev", "aud": "a", "exp": now + 300}).encode())
    sig = signer.classical.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64(sig)}"


def test_verify_downgrade_is_rejected(signer: HybridSigner, issuer: Issuer) -> None:
    token = _stripped(signer, issuer.issuer)
    doc = verify_cli(token, "--json").json()
    assert (doc["valid"], doc["reason"]) == (False, "pq_missing")
    assert doc["summary"]["verdict"]["classical"] == "verified"
    assert doc["summary"]["verdict"]["pq"] == "missing"
    assert verify_cli(token).code == 1


def test_verify_wrong_audience(keys_dir: Path, issuer: Issuer) -> None:
    token = mint(keys_dir, issuer.issuer)
    result = verify_cli(token, "--audience", "stx-ap-south-cluster")
    assert result.code == 1
    assert "audience_mismatch" in result.out


def test_verify_pinned_issuer_mismatch(keys_dir: Path, issuer: Issuer) -> None:
    jwks = json.loads((keys_dir / "jwks.json").read_text())
    with Issuer(jwks, path="/other") as other:
        token = mint(keys_dir, issuer.issuer)
        result = verify_cli(token, "--issuer", other.issuer, "--json")
        assert (result.code, result.json()["reason"]) == (1, "issuer_mismatch")
        assert result.json()["checks"]["issuerFrom"] == "option"


def test_verify_with_jwks_file_and_url(keys_dir: Path, issuer: Issuer) -> None:
    token = mint(keys_dir, "https://not-reachable.invalid")
    from_file = verify_cli(token, "--jwks", str(keys_dir / "jwks.json"))
    assert from_file.code == 0, from_file.err
    assert "issuer NOT pinned" in from_file.out
    from_url = verify_cli(token, "--jwks", issuer.jwks_url, "--json")
    assert from_url.code == 0 and from_url.json()["keys"]["source"] == "url"


def test_verify_other_keys_is_invalid(keys_dir: Path, tmp_path: Path) -> None:
    token = mint(keys_dir, "https://issuer.example")
    other = HybridSigner.generate()
    path = tmp_path / "other.json"
    path.write_text(json.dumps(KeySet([*other.key_set()]).to_jwks()))
    doc = verify_cli(token, "--jwks", str(path), "--json").json()
    assert (doc["valid"], doc["reason"]) == (False, "unknown_kid")


@pytest.mark.parametrize("content", ['{"keys": []}', "not json", '{"keys": [{"kty": "EC", "d": "x"}]}'])
def test_verify_unusable_jwks_file(keys_dir: Path, tmp_path: Path, content: str) -> None:
    token = mint(keys_dir, "https://issuer.example")
    path = tmp_path / "jwks.json"
    path.write_text(content)
    result = verify_cli(token, "--jwks", str(path))
    assert result.code == 2
    assert str(path) in result.err


def test_verify_unreachable_issuer_exits_5(keys_dir: Path, dead_url: str) -> None:
    token = mint(keys_dir, dead_url)
    result = verify_cli(token)
    assert result.code == 5
    assert f"{dead_url}/.well-known/openid-configuration" in result.err
    assert "could not connect" in result.err and "--jwks" in result.err
    doc = verify_cli(token, "--json")
    assert doc.code == 5
    error = doc.json()["error"]
    assert error["code"] == "network" and "--jwks" in error["hint"]


def test_verify_malformed_is_invalid(tmp_path: Path) -> None:
    result = run("identity", "verify", "-", stdin="a.b")
    assert result.code == 1
    assert result.out.startswith("INVALID: malformed: ")
    doc = run("identity", "verify", "-", "--json", stdin="a.b.c.d.e").json()
    assert (doc["valid"], doc["reason"], doc["summary"]) == (False, "jwe", None)


def test_verify_token_file(keys_dir: Path, issuer: Issuer, tmp_path: Path) -> None:
    token = mint(keys_dir, issuer.issuer)
    path = tmp_path / "t"
    path.write_text(token)
    result = run("identity", "verify", "--token-file", str(path), secret=token)
    assert result.code == 0


@pytest.mark.parametrize("args", [(), ("-", "--token-file", "x"), ("--leeway", "-1", "-"),
                                  ("--token-file", "/nonexistent/file")])
def test_verify_usage_errors(args: tuple[str, ...]) -> None:
    result = run("identity", "verify", *args, stdin="")
    assert result.code == 2
    assert result.err.startswith("error: ")


def test_usage_errors_are_json_under_json() -> None:
    result = run("identity", "verify", "--json", "--no-such-option")
    assert result.code == 2
    assert result.json()["error"]["code"] == "usage"
    assert result.err == ""
