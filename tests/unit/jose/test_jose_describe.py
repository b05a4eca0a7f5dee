"""describe(): identity kinds, act chains, times, sizes, the TokenSummary shape. Never verifies."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from jose_helpers import NOW, b64, b64json

from microstax.jose import (
    DEFAULT_HEADER_BUDGET,
    KeySet,
    Policy,
    check,
    describe,
    humanize_seconds,
    relative,
)
from microstax.jose.describe import actor_chain, identity_of

SUMMARY_KEYS = {
    "subject", "identityKind", "identityDetail", "issuer", "audience", "scopes", "clientId", "jti",
    "actors", "issuedAt", "notBefore", "expiresAt", "secondsLeft", "lifetimeSeconds", "expiresIn",
    "sizeBytes", "sizeWarning", "signatures", "verdict", "environment", "cluster",
}


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59, "59s"), (60, "1m"), (252, "4m 12s"), (3600, "1h"), (10800, "3h"),
    (10860, "3h 1m"), (86400, "1d"), (90000, "1d 1h"), (-252, "4m 12s"),
])
def test_humanize_seconds(seconds: float, text: str) -> None:
    assert humanize_seconds(seconds) == text


def test_relative_future_and_past() -> None:
    assert relative(NOW + 252, NOW) == "in 4m 12s"
    assert relative(NOW - 3 * 3600, NOW) == "3h ago"


def test_expires_in_and_expired_ago(mint: Callable[..., str]) -> None:
    live = describe(mint(exp=int(NOW) + 252), now=NOW)
    assert live.expires_in == "expires in 4m 12s"
    assert not live.expired
    dead = describe(mint(exp=int(NOW) - 3 * 3600), now=NOW)
    assert dead.expires_in == "expired 3h ago"
    assert dead.expired
    assert dead.to_summary()["secondsLeft"] == -10800


def test_no_exp_never_expires(mint: Callable[..., str]) -> None:
    token = f"{b64json({'alg': 'ES256'})}.{b64json({'sub': 'x'})}.{b64(b'sig')}"
    assert describe(token, now=NOW).expires_in == "never expires (no exp claim)"
    del mint


def test_user_identity() -> None:
    kind, detail = identity_of({"sub": "f:1", "preferred_username": "dev", "email": "dev@example.com"})
    assert kind == "user"
    assert detail == {"preferred_username": "dev", "email": "dev@example.com"}
    assert identity_of({"sub": "alice"}) == ("user", {})


def test_service_identity() -> None:
    assert identity_of({"sub": "svc-payments", "client_id": "svc-payments"}) == \
        ("service", {"clientId": "svc-payments"})
    assert identity_of({"sub": "service-account-ci", "azp": "ci"})[0] == "service"


def test_spiffe_identity() -> None:
    assert identity_of({"sub": "spiffe://dev.microstax.local/env/dev/svc/payments"}) == \
        ("spiffe", {"trustDomain": "dev.microstax.local", "path": "/env/dev/svc/payments"})


def test_kubernetes_identity_from_claim() -> None:
    claims = {"sub": "system:serviceaccount:payments:api",
              "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api", "uid": "1"},
                                "pod": {"name": "api-7d9f", "uid": "2"}}}
    assert identity_of(claims) == \
        ("kubernetes", {"namespace": "payments", "serviceAccount": "api", "pod": "api-7d9f"})


def test_kubernetes_identity_from_subject_only() -> None:
    assert identity_of({"sub": "system:serviceaccount:ns:sa"}) == \
        ("kubernetes", {"namespace": "ns", "serviceAccount": "sa"})


def test_unknown_identity() -> None:
    assert identity_of({}) == ("unknown", {})


def test_act_chain_current_actor_first() -> None:
    claims = {"sub": "svc", "act": {"sub": "dev", "act": {"sub": "ci-bot", "act": {"sub": "root"}}}}
    assert actor_chain(claims) == ["dev", "ci-bot", "root"]
    assert actor_chain({"sub": "x"}) == []
    assert actor_chain({"act": "not-an-object"}) == []


def test_act_chain_is_bounded() -> None:
    act: dict[str, object] = {"sub": "last"}
    for i in range(100):
        act = {"sub": f"a{i}", "act": act}
    assert len(actor_chain({"act": act})) == 32


def test_summary_shape_and_values(mint: Callable[..., str]) -> None:
    token = mint(sub="spiffe://dev.microstax.local/env/dev/svc/payments", aud=["a", "b"],
                 scope="read write", act={"sub": "dev"}, env="dev", cluster="a")
    summary = describe(token, now=NOW).to_summary()
    assert set(summary) == SUMMARY_KEYS
    assert summary["identityKind"] == "spiffe"
    assert summary["audience"] == ["a", "b"]
    assert summary["scopes"] == ["read", "write"]
    assert summary["actors"] == ["dev"]
    assert summary["issuedAt"] == "2027-01-15T07:59:00Z"
    assert summary["expiresAt"] == "2027-01-15T08:04:00Z"
    assert summary["lifetimeSeconds"] == 300
    assert summary["secondsLeft"] == 240
    assert summary["signatures"]["classical"]["alg"] == "ES256"
    assert summary["signatures"]["pq"]["alg"] == "ML-DSA-65"
    assert (summary["environment"], summary["cluster"]) == ("dev", "a")


def test_decode_is_never_valid(mint: Callable[..., str]) -> None:
    desc = describe(mint(), now=NOW)
    assert desc.verdict.valid is False
    assert desc.to_summary()["verdict"] == {"classical": "not_checked", "pq": "not_checked",
                                            "reason": None}


def test_verdict_from_verification_is_reported(mint: Callable[..., str], keys: KeySet) -> None:
    verdict, parsed, _ = check(mint(), keys, Policy(), now=NOW)
    assert parsed is not None
    summary = describe(parsed, verdict=verdict, now=NOW).to_summary()
    assert summary["verdict"] == {"classical": "verified", "pq": "verified", "reason": None}


def test_hybrid_token_is_under_the_header_budget(mint: Callable[..., str]) -> None:
    desc = describe(mint(), now=NOW)
    assert 5000 < desc.size_bytes < DEFAULT_HEADER_BUDGET
    assert desc.size_warning is None


def test_size_warning_past_8_kib(mint: Callable[..., str]) -> None:
    desc = describe(mint(padding="x" * 2500), now=NOW)
    assert desc.size_bytes + len("Authorization: Bearer ") > 8 * 1024
    assert desc.size_warning is not None
    assert "8192" in desc.size_warning
    assert describe(mint(padding="x" * 2500), now=NOW, header_budget=16384).size_warning is None


@pytest.mark.parametrize("value", [1e300, 10**30, -(10**30), 1.5])
def test_absurd_times_do_not_break_the_summary(value: float) -> None:
    token = f"{b64json({'alg': 'ES256'})}.{b64json({'exp': value, 'iat': value})}.{b64(b'sig')}"
    summary = describe(token, now=NOW).to_summary()
    assert summary["expiresIn"]
