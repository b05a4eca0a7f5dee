"""Property-based: the CLI's token commands, given arbitrary tokens, JWKS files and claims,
exit with a documented code (0 valid, 1 invalid, 2 usage/I-O, 5 unavailable), never 70."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microstax.cli import exit_codes
from microstax.cli.main import main
from microstax.jose import HybridSigner, sign
from microstax.jose.compact import b64url_encode

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SIGNER = HybridSigner.generate()
DOCUMENTED = {exit_codes.OK, exit_codes.INVALID, exit_codes.USAGE, exit_codes.UNAVAILABLE}
edge = st.sampled_from([10**400, -(10**400), 1e308, -1, None, True, "x", [1], {"a": [[[]]]}])
claims = st.dictionaries(st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "act", "scope",
                                          "jti", "client_id", "kubernetes.io", "cnf"]) | st.text(max_size=5),
                         edge | st.text(max_size=10) | st.integers(), max_size=8)
headers = st.dictionaries(st.sampled_from(["alg", "kid", "typ", "pq", "crit", "jku"]),
                          edge | st.sampled_from(["ES256", "none", "HS256", SIGNER.classical.kid]),
                          max_size=5)


def _token(header: dict[str, Any], payload: dict[str, Any]) -> str:
    h = b64url_encode(json.dumps({"alg": "ES256", **header}).encode())
    p = b64url_encode(json.dumps(payload).encode())
    return f"{h}.{p}.{b64url_encode(b'x' * 64)}"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    code = main(args)
    err = capsys.readouterr().err
    assert code != exit_codes.INTERNAL, err
    assert "Traceback" not in err
    return code


@SETTINGS
@given(header=headers, payload=claims, signed=st.booleans())
def test_decode_and_offline_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   header: dict[str, Any], payload: dict[str, Any], signed: bool) -> None:
    token = sign(payload, SIGNER) if signed else _token(header, payload)
    (tmp_path / "t").write_text(token)
    (tmp_path / "jwks.json").write_text(json.dumps(SIGNER.key_set().to_jwks()))
    for args in (["token", "decode"], ["token", "decode", "--json"],
                 ["identity", "verify", "--jwks", str(tmp_path / "jwks.json")],
                 ["identity", "verify", "--json", "--typ", "any", "--jwks", str(tmp_path / "jwks.json")]):
        assert _run([*args, "--token-file", str(tmp_path / "t")], capsys) in DOCUMENTED


@SETTINGS
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_arbitrary_jwks_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    (tmp_path / "t").write_text(sign({"iss": "https://i", "sub": "s", "exp": 4102444800}, SIGNER))
    (tmp_path / "jwks.json").write_bytes(text.encode("utf-8", "surrogatepass"))
    code = _run(["identity", "verify", "--token-file", str(tmp_path / "t"),
                 "--jwks", str(tmp_path / "jwks.json")], capsys)
    assert code in (exit_codes.INVALID, exit_codes.USAGE)


@SETTINGS
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=30)), max_size=4))
def test_mint_claims(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
                     pairs: list[tuple[str, str]]) -> None:
    keys = tmp_path_factory.getbasetemp() / "mint-keys"
    if not (keys / "keys.json").exists():
        assert main(["keys", "generate", "--out", str(keys)]) == 0
    args = ["token", "mint", "--keys", str(keys), "--iss", "https://i", "--sub", "s", "--aud", "a"]
    for name, value in pairs:
        args += ["--claim", f"{name}:={value}" if value[:1] in "[{0123456789-tfn\"" else f"{name}={value}"]
    assert _run(args, capsys) in (exit_codes.OK, exit_codes.USAGE)
