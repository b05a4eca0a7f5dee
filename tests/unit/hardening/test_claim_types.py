"""Every registered claim has one allowed JSON type; anything else is a rejection with a reason.

RFC 7519 §4.1: iss/sub/jti strings, aud a string or an array of strings, exp/nbf/iat
NumericDates (JSON numbers: not bool, not null, not strings); RFC 8693/9068: scope and
client_id strings, act/may_act objects. ``"exp": null`` must never read as "never expires".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hardening_helpers import NOW

from microstax.jose import KeySet, MissingClaim, Policy, check, describe, verify

LOOSE = Policy(issuer=None, audience=None, typ=None)


def rejected(token: str, keys: KeySet, policy: Policy = LOOSE) -> str:
    verdict, _, error = check(token, keys, policy, now=NOW)
    assert not verdict.valid, "accepted a mistyped claim"
    assert error is not None and verdict.reason and verdict.message
    return verdict.reason


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [None, True, False, "1900000000", [1900000000], {"t": 1},
                                   -1, -1.5, 10**400, 1e308, 253402300800, float(2**62)])
def test_times_must_be_numeric_dates(mint: Callable[..., str], keys: KeySet, name: str,
                                     value: Any) -> None:
    token = mint(**{name: value})
    assert rejected(token, keys) == "missing_claim"
    with pytest.raises(MissingClaim, match=name):
        verify(token, keys, LOOSE, now=NOW)


def test_exp_null_is_not_never_expires(mint: Callable[..., str], keys: KeySet) -> None:
    token = mint(exp=None)
    # the default policy requires exp; even a policy that does not must refuse a null exp
    for policy in (Policy(issuer=None, audience=None), Policy(required_claims=(), typ=None)):
        verdict, _, _ = check(token, keys, policy, now=NOW)
        assert not verdict.valid and verdict.reason == "missing_claim"
        assert "null" in (verdict.message or "")
    assert "never expires" not in describe(token, now=NOW).expires_in


@pytest.mark.parametrize("name", ["iss", "sub", "jti", "scope", "client_id", "typ", "azp"])
@pytest.mark.parametrize("value", [None, 42, True, ["a"], {"a": "b"}])
def test_string_claims(mint: Callable[..., str], keys: KeySet, name: str, value: Any) -> None:
    assert rejected(mint(**{name: value}), keys) == "missing_claim"


@pytest.mark.parametrize("value", [None, 42, True, {"x": "y"}, ["a", 1], ["a", None], [["a"]]])
def test_aud_is_a_string_or_strings(mint: Callable[..., str], keys: KeySet, value: Any) -> None:
    assert rejected(mint(aud=value), keys) == "missing_claim"


@pytest.mark.parametrize("name", ["act", "may_act"])
@pytest.mark.parametrize("value", [None, "svc", 1, ["svc"], {"sub": 1}, {"sub": "a", "act": "b"},
                                   {"sub": "a", "act": {"sub": None}}, {"sub": "a", "act": None}])
def test_act_is_an_object(mint: Callable[..., str], keys: KeySet, name: str, value: Any) -> None:
    assert rejected(mint(**{name: value}), keys) == "missing_claim"


def test_well_typed_claims_still_verify(mint: Callable[..., str], keys: KeySet) -> None:
    token = mint(aud=["a", "stx-eu-west-cluster"], nbf=int(NOW) - 10, exp=NOW + 100.5,
                 act={"sub": "ci", "act": {"sub": "dev"}}, may_act={"sub": "ci"}, typ="Bearer")
    assert verify(token, keys, Policy(issuer=None, audience="stx-eu-west-cluster"), now=NOW)


def test_pinned_issuer_still_names_the_mismatch(mint: Callable[..., str], keys: KeySet) -> None:
    verdict, _, _ = check(mint(iss=42), keys, Policy(issuer="https://issuer.example"), now=NOW)
    assert verdict.reason == "issuer_mismatch"


@pytest.mark.parametrize("typ", [None, 1, ["at+jwt"]])
def test_header_typ_must_be_a_string_even_when_any_is_accepted(signer: Any, keys: KeySet,
                                                              typ: Any) -> None:
    from hardening_helpers import claims

    from microstax.jose import sign
    token = sign(claims(), signer, typ=typ)
    verdict, _, _ = check(token, keys, LOOSE, now=NOW)
    assert not verdict.valid and verdict.reason == "typ_mismatch"
