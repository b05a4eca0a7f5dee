"""Faults per cluster next to the real platform: one cluster down, slow or answering garbage never
delays or breaks the others; cached tokens are served until they expire; the cause is reported;
no token or secret reaches a log line."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from tests.harness.net import free_port
from tests.harness.platform import PlatformServer
from tests.identity.fakeidp import FakeIdP
from tests.identity.helpers import write_config

from microstax.adapters.secrets import MemorySecretStore
from microstax.identity import (
    ClusterStateChanged,
    ExchangeDenied,
    FederateRequest,
    IdpUnavailable,
    UntrustedToken,
)

FAULTS = ["hang", "5xx", "429", "garbage", "wrong_issuer", "wrong_audience", "deny", "bad_signature"]


def cluster_entry(idp: FakeIdP) -> dict[str, object]:
    return {"region": "test-1", "token_exchange": {
        "flavour": "rfc8693", "token_endpoint": idp.token_endpoint, "expected_issuer": idp.issuer}}


@pytest.fixture
def fleet(tmp_path: Path, platform: PlatformServer, fake_idps, monkeypatch: pytest.MonkeyPatch):
    idps = {"fake-ok": fake_idps("fake-ok")}
    for mode in FAULTS:
        idps[f"fake-{mode}"] = fake_idps(f"fake-{mode}", mode)
    idps["fake-429"].retry_after = 30  # longer than we are willing to wait
    idps["fake-hang"].hang_seconds = 4  # past the 1.5 s client timeout
    clusters = {name: cluster_entry(idp) for name, idp in idps.items()}
    down_port = free_port()
    clusters["fake-down"] = {"token_exchange": {
        "flavour": "rfc8693", "token_endpoint": f"http://127.0.0.1:{down_port}/oauth/token",
        "expected_issuer": f"http://127.0.0.1:{down_port}"}}
    path = write_config(tmp_path / "config.toml", {
        "defaults": {"timeout": 1.5, "retry_after_max": 2},
        "environments": {"dev": {"platform": platform.issuer, "clusters": clusters}},
    })
    monkeypatch.setenv("MICROSTAX_CONFIG", str(path))
    return path, idps


async def test_fleet_with_faults(fleet, service_factory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config, _ = fleet
    secrets = MemorySecretStore()
    svc = service_factory(config, secrets=secrets)
    events: list[ClusterStateChanged] = []
    svc.subscribe(lambda e: events.append(e) if isinstance(e, ClusterStateChanged) else None)
    await svc.login("dev")
    start = time.monotonic()
    outcomes = await svc.federate_many(FederateRequest(target="all"))
    elapsed = time.monotonic() - start
    by = {o.target: o for o in outcomes}
    # the platform's own clusters and the healthy fake are unaffected
    for ok in ("stx-eu-west-cluster", "stx-us-east-cluster", "stx-ap-south-cluster", "fake-ok"):
        assert by[ok].ok, by[ok].error
    assert by["fake-ok"].result is not None and by["fake-ok"].result.description.claims["aud"] == "fake-ok"
    # the hung one costs its own timeout, not everybody's; nobody waited for its 30 s
    assert elapsed < 10, elapsed
    expect = {
        "fake-hang": (IdpUnavailable, "network", "timed out"),
        "fake-5xx": (IdpUnavailable, "network", "HTTP 503"),
        "fake-429": (IdpUnavailable, "network", "retry after 30s"),
        "fake-garbage": (IdpUnavailable, "network", "expected JSON"),
        "fake-down": (IdpUnavailable, "network", "could not connect"),
        "fake-wrong_issuer": (UntrustedToken, "auth", "issuer_mismatch"),
        "fake-wrong_audience": (UntrustedToken, "auth", "audience_mismatch"),
        "fake-bad_signature": (UntrustedToken, "auth", "failed verification"),
        "fake-deny": (ExchangeDenied, "auth", "invalid_target"),
    }
    for name, (cls, kind, text) in expect.items():
        err = by[name].error
        assert isinstance(err, cls), (name, err)
        assert text in err.message, (name, err.message)
        assert err.message.startswith(f"{name}:"), err.message
        assert err.failure_kind == kind
    assert by["fake-429"].error.details["retryAfter"] == 30  # type: ignore[union-attr]

    status = (await svc.status("dev")).to_json()
    tokens = {c["name"]: c["token"] for c in status["clusters"]}
    assert tokens["fake-ok"]["state"] == "exchanged"
    assert tokens["fake-hang"]["state"] == "failed" and tokens["fake-hang"]["failure"]["kind"] == "network"
    assert tokens["fake-deny"]["failure"]["kind"] == "auth"
    # a token that fails verification is no outage: its own code, no retry offered
    assert tokens["fake-bad_signature"]["failure"]["code"] == "UNTRUSTED_TOKEN"
    assert not isinstance(by["fake-bad_signature"].error, IdpUnavailable)
    assert by["fake-bad_signature"].error.to_json().get("action") is None  # type: ignore[union-attr]
    assert status["summary"] == "4 of 13 clusters exchanged"
    assert {e.state.name for e in events} >= {"fake-ok", "fake-hang", "fake-deny"}

    # nothing secret in any log line: session tokens, refresh token, exchanged tokens
    session = svc.sessions.memory["dev"]
    secrets_seen = [session.access_token, session.refresh_token or "x" * 40]
    secrets_seen += [o.result.token for o in outcomes if o.result is not None]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for s in secrets_seen:
        assert s not in text
        assert s[-40:] not in text  # not even the signature part


async def test_failed_refresh_serves_the_cached_token(fleet, service_factory) -> None:
    config, idps = fleet
    svc = service_factory(config)
    await svc.login("dev")
    ok = idps["fake-ok"]
    first = await svc.federate(FederateRequest(target="fake-ok"))
    ok.mode = "5xx"
    # due for refresh-ahead: pretend most of its lifetime has passed
    for entry in svc.tokens.entries.values():
        entry.issued_at -= 10_000
    served = await svc.federate(FederateRequest(target="fake-ok"))
    assert served.token == first.token and served.from_cache
    assert served.refresh_failure is not None and "HTTP 503" in served.refresh_failure.message
    assert served.to_json()["refreshFailure"]["kind"] == "network"
    status = await svc.status("dev")
    state = next(c for c in status.clusters if c.name == "fake-ok").token
    assert state.state == "exchanged" and state.failure is not None  # served, and the cause reported
    # once it has expired, the failure is the answer
    for entry in svc.tokens.entries.values():
        entry.expires_at = time.time() + 1
    with pytest.raises(IdpUnavailable):
        await svc.federate(FederateRequest(target="fake-ok"))
    ok.mode = "ok"
    fresh = await svc.federate(FederateRequest(target="fake-ok"))
    assert fresh.token != first.token and not fresh.from_cache and fresh.refresh_failure is None


async def test_429_with_short_retry_after_is_retried_once(fleet, service_factory) -> None:
    config, idps = fleet
    svc = service_factory(config)
    await svc.login("dev")
    idp = idps["fake-ok"]
    idp.retry_after = 1
    idp.script = ["429"]
    before = idp.exchanges
    tok = await svc.federate(FederateRequest(target="fake-ok"))
    assert tok.description.claims["aud"] == "fake-ok"
    assert idp.exchanges - before == 2


async def test_single_flight_per_key_and_separate_keys(fleet, service_factory) -> None:
    import asyncio

    config, idps = fleet
    svc = service_factory(config)
    await svc.login("dev")
    idp = idps["fake-ok"]
    idp.delay = 0.3
    before = idp.exchanges
    results = await asyncio.gather(*(svc.federate(FederateRequest(target="fake-ok")) for _ in range(20)),
                                   svc.federate(FederateRequest(target="fake-ok", scopes=("read",))))
    assert idp.exchanges - before == 2  # one per cache key
    assert len({r.token for r in results[:20]}) == 1
