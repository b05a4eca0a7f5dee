"""JWKs with members of the wrong JSON type (a list where a string belongs, numbers for x/y,
nested objects, null) are refused with a reason, never a crash: in ``KeySet.from_jwks`` and
everywhere a JWKS is parsed (the protocol layer's JWKS cache, the platform's client JWKS)."""

from __future__ import annotations

from typing import Any

import pytest

from microstax.jose import HybridSigner, KeySet, KeyStoreError, SigningKey
from microstax.oauth.exceptions import DiscoveryError
from microstax.oauth.jwks import parse_jwks
from microstax.platform import ConfigError
from microstax.platform.config import parse_config

SIGNER = HybridSigner.generate()
EC_JWK = SIGNER.classical.public_jwk
AKP_JWK = SIGNER.pq.public_jwk
RSA_LIKE = {"kty": "RSA", "alg": "RS256", "kid": "r1", "use": "sig", "n": "AQAB" * 100, "e": "AQAB"}
OKP = {"kty": "OKP", "crv": "Ed25519", "kid": "o1", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
WRONG_VALUES: list[Any] = [None, 1, 1.5, True, ["P-256"], {"a": "b"}, [[["x"]]], 10**400, ""]


def _mutations(jwk: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name in [*jwk, "key_ops", "use"]:
        for value in WRONG_VALUES:
            if value == "" and name not in jwk:
                continue
            out.append({**jwk, name: value})
    return out


ALL_MUTATIONS = [m for jwk in (EC_JWK, AKP_JWK, RSA_LIKE, OKP) for m in _mutations(jwk)]


@pytest.mark.parametrize("jwk", ALL_MUTATIONS, ids=lambda j: f"{j.get('kty')!s:.8}")
def test_a_mistyped_member_is_a_reason_not_a_crash(jwk: dict[str, Any]) -> None:
    try:
        keys = KeySet.from_jwks({"keys": [jwk]})
    except KeyStoreError as exc:
        assert exc.message and len(exc.message) < 300
        return
    # the only mutations that may still load are harmless ones (an empty optional member)
    assert len(keys) == 1


@pytest.mark.parametrize("name", ["kty", "crv", "x", "y", "kid", "alg", "use"])
@pytest.mark.parametrize("value", [["P-256"], 7, {"k": "v"}, None])
def test_ec_members_of_the_wrong_type_are_named(name: str, value: Any) -> None:
    with pytest.raises(KeyStoreError, match=name if name != "use" else "signature key"):
        KeySet.from_jwks({"keys": [{**EC_JWK, name: value}]})


def test_good_keys_survive_a_bad_neighbour() -> None:
    keys = KeySet.from_jwks({"keys": [{**EC_JWK, "kid": ["x"]}, EC_JWK, AKP_JWK, "junk", 5]})
    assert len(keys) == 2


@pytest.mark.parametrize("doc", [None, [], "keys", {"keys": None}, {"keys": {"0": EC_JWK}},
                                 {"keys": "abc"}, {"keys": [EC_JWK] * 101}, {"keys": [[]]}, {"keys": [None]}])
def test_jwks_shapes(doc: Any) -> None:
    with pytest.raises(KeyStoreError):
        KeySet.from_jwks(doc)


def test_a_huge_rsa_modulus_is_refused_cheaply() -> None:
    big = {"kty": "RSA", "alg": "RS256", "kid": "big", "n": "A" + "Q" * 200_000, "e": "AQAB"}
    with pytest.raises(KeyStoreError, match="bits"):
        KeySet.from_jwks({"keys": [big]})
    with pytest.raises(KeyStoreError, match="exponent"):
        KeySet.from_jwks({"keys": [{**big, "n": "AQAB" * 100, "e": "A" * 400}]})


@pytest.mark.parametrize("jwk", [{**EC_JWK, "crv": ["P-256"]}, {**EC_JWK, "x": 12345},
                                 {**EC_JWK, "y": {"nested": {"deep": [1]}}}])
def test_the_protocol_layer_reports_a_discovery_error(jwk: dict[str, Any]) -> None:
    with pytest.raises(DiscoveryError, match="not a usable JWKS"):
        parse_jwks({"keys": [jwk]}, "https://idp.example/jwks")


@pytest.mark.parametrize("jwk", [{**EC_JWK, "crv": ["P-256"]}, {**EC_JWK, "x": 1.5},
                                 {"kty": {"EC": 1}}])
def test_a_client_jwks_in_the_platform_config_is_checked_at_load(jwk: dict[str, Any]) -> None:
    doc = {"clients": [{"client_id": "c", "type": "confidential", "jwks": {"keys": [jwk]},
                        "grant_types": ["client_credentials"]}]}
    with pytest.raises(ConfigError) as info:
        parse_config(doc, file="team.toml")
    assert info.value.message.startswith("team.toml: clients[0].jwks:"), info.value.message


def test_a_private_signing_key_file_of_the_wrong_shape(tmp_path: Any) -> None:
    from microstax.jose import KeyStore
    for doc in ('{"keys": [{"jwk": [1], "created": 1}]}', '{"keys": [{"jwk": {}, "created": 1e308}]}',
                '{"keys": 5}', '[]', '{"keys": [{"jwk": {"alg": "ES256"}, "created": ' + "9" * 400 + "}]}"):
        path = tmp_path / "keys.json"
        path.write_text(doc)
        path.chmod(0o600)
        with pytest.raises(KeyStoreError):
            KeyStore(tmp_path).load()


def test_signing_keys_still_load() -> None:
    key = SigningKey.generate("ES256")
    assert len(KeySet.from_jwks({"keys": [key.public_jwk]})) == 1


@pytest.mark.parametrize("doc", ['{"keys": [{"kty": "EC", "crv": ["P-256"], "x": 1, "y": 2}]}',
                                 '{"keys": [' + '{"kty": "EC", "crv": "P-256"}, ' * 3 + '[]]}',
                                 '{"keys": {"kty": "EC"}}',
                                 '{"keys": [], "keys": [1]}', '{"keys": NaN}'])
def test_cli_verify_with_a_bad_jwks_file_exits_with_usage(tmp_path: Any, doc: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from microstax.cli import exit_codes
    from microstax.cli.main import main
    from microstax.jose import sign
    jwks = tmp_path / "jwks.json"
    jwks.write_text(doc)
    token = tmp_path / "token"
    token.write_text(sign({"iss": "https://i.example", "sub": "s", "exp": 4102444800}, SIGNER))
    code = main(["identity", "verify", "--token-file", str(token), "--jwks", str(jwks)])
    err = capsys.readouterr().err
    assert code == exit_codes.USAGE, err
    assert "JWKS" in err and "Traceback" not in err
