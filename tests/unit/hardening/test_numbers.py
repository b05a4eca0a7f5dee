"""Numbers at the edges of JSON in claims that are shown or compared: huge integers, 1e308,
negative times, NaN/Infinity literals, 1e400. No exception anywhere: a clear rejection, or a
displayed "out of range"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from hardening_helpers import NOW, dumps, raw_token

from microstax.cli import exit_codes
from microstax.cli.main import cli, main
from microstax.cli.present import render_text
from microstax.daemon.diagnostics import TokenTimes, findings
from microstax.daemon.hovercard import render_card, summary
from microstax.identity.federation import subject_from_jwt
from microstax.jose import (
    JoseError,
    KeySet,
    MalformedToken,
    Policy,
    check,
    describe,
    numeric_date,
    parse,
)
from microstax.oauth.tokens import token_response_from

EDGE_NUMBERS: list[Any] = [10**400, -(10**400), 1e308, -1e308, -1, -0.5, 0, 253402300800,
                           2**63, 2**64 + 1, 1.7976931348623157e308, 5e-324]
EDGE_LITERALS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 5000]
TIME_CLAIMS = ("exp", "nbf", "iat")


def _token_text(payload: str) -> str:
    return raw_token(dumps({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}), payload)


def _show_everything(token: str, keys: KeySet) -> None:
    """All the ways a token is shown or compared; none may raise."""
    verdict, parsed, _ = check(token, keys, Policy(issuer=None), now=NOW)
    assert parsed is not None
    desc = describe(parsed, verdict=verdict, now=NOW)
    json.dumps(desc.to_summary())
    render_text(desc)
    render_card(desc)
    json.dumps(summary(desc))


@pytest.mark.parametrize("name", TIME_CLAIMS)
@pytest.mark.parametrize("value", EDGE_NUMBERS)
def test_edge_times_are_shown_and_rejected(mint: Callable[..., str], keys: KeySet, name: str,
                                           value: Any) -> None:
    token = mint(**{name: value})
    _show_everything(token, keys)
    verdict, _, _ = check(token, keys, Policy(issuer=None), now=NOW)
    if numeric_date(value) is None:
        assert not verdict.valid and verdict.reason == "missing_claim"
        assert "range" in (verdict.message or "")


@pytest.mark.parametrize("value", [10**400, -1, 1e308, -(10**400)])
def test_out_of_range_exp_reads_out_of_range(mint: Callable[..., str], value: Any) -> None:
    desc = describe(mint(exp=value), now=NOW)
    assert desc.expires_at is None
    assert "out of range" in desc.expires_in and "never" not in desc.expires_in
    assert "out of range" in render_text(desc)
    assert desc.to_summary()["expiresAt"] is None


@pytest.mark.parametrize("literal", EDGE_LITERALS)
@pytest.mark.parametrize("name", ["exp", "iat", "sub", "aud", "act"])
def test_nonstandard_or_out_of_range_literals_are_malformed(literal: str, name: str) -> None:
    token = _token_text(f'{{"sub":"dev","{name}":{literal}}}'.replace('"sub":"dev","sub"', '"sub"'))
    with pytest.raises(MalformedToken):
        parse(token)
    verdict, parsed, error = check(token, KeySet(), now=NOW)
    assert parsed is None and isinstance(error, JoseError) and verdict.reason == "malformed"


@pytest.mark.parametrize("value", EDGE_NUMBERS)
def test_every_token_in_a_document_gets_its_diagnostic(mint: Callable[..., str], value: Any) -> None:
    """A token with an absurd exp is reported (or not) on its own; the others still are."""
    expired = mint(exp=int(NOW) - 3600, iat=int(NOW) - 7200)
    weird = mint(exp=value)
    lived = mint(exp=int(NOW) + 10 * 86400, iat=int(NOW))
    text = f"a: {expired}\nb: {weird}\nc: {lived}\n"
    found = findings(text, NOW, TokenTimes())
    kinds = [f.kind for f in found]
    assert "expired" in kinds and "long_lived" in kinds


def test_token_response_lifetimes_at_the_edges() -> None:
    for value in (10**400, -(10**400), 1e308, -5, True, "1e999", "NaN", "٣٦٠٠", "Infinity",
                  [3600], {"s": 1}, None):
        response = token_response_from({"access_token": "x", "token_type": "Bearer",
                                        "expires_in": value, "refresh_expires_in": value},
                                       what="test", endpoint="https://idp.test/token")
        assert response.expires_in is None and response.refresh_expires_in is None
        assert response.expires_at is None and response.refresh_expires_at is None
    ok = token_response_from({"access_token": "x", "token_type": "Bearer", "expires_in": "300"},
                             what="test", endpoint="https://idp.test/token")
    assert ok.expires_in == 300.0


@pytest.mark.parametrize("value", EDGE_NUMBERS)
def test_subject_token_files_with_absurd_exp(mint: Callable[..., str], value: Any) -> None:
    try:
        subject_from_jwt(mint(exp=value), where="in a test")
    except JoseError:
        pass
    except Exception as exc:  # InvalidSubjectToken is fine; a crash is not
        assert type(exc).__name__ == "InvalidSubjectToken", repr(exc)


@pytest.mark.parametrize("value", [10**400, -(10**400), 1e308, -1])
@pytest.mark.parametrize("command", [["token", "decode"], ["token", "decode", "--json"]])
def test_cli_decode_exits_with_a_documented_code(mint: Callable[..., str], value: Any,
                                                 command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "-"], input=mint(exp=value, iat=value),
                                standalone_mode=False)
    assert result.exception is None, repr(result.exception)
    assert "out of range" in result.output


@pytest.mark.parametrize("value", [10**400, -(10**400), 1e308, -1, None])
def test_cli_verify_with_a_jwks_file_says_invalid(mint: Callable[..., str], keys: KeySet,
                                                  tmp_path: Any, value: Any,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.to_jwks()))
    token_file = tmp_path / "token"
    token_file.write_text(mint(exp=value, iat=int(time.time())))
    code = main(["identity", "verify", "--token-file", str(token_file), "--jwks", str(jwks)])
    assert code == exit_codes.INVALID, capsys.readouterr()


@pytest.mark.parametrize("value", [10**400, -1, 1e308, None, "soon", [1], True])
def test_token_metadata_with_odd_times_is_dropped(tmp_path: Any, value: Any) -> None:
    from microstax.identity.cache import TokenVault
    vault = TokenVault(None, tmp_path)
    vault.dir.mkdir()
    good = {"expiresAt": NOW + 60, "issuedAt": NOW, "target": "eu"}
    doc = {"entries": {"a": {**good, "expiresAt": value}, "b": {**good, "issuedAt": value},
                       "c": good}}
    vault.meta_path("dev").write_text(json.dumps(doc))
    entries, _ = vault.read_meta("dev")
    assert list(entries) == ["c"]
    vault.load("dev", with_tokens=False)
