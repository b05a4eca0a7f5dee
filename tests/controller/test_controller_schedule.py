"""Pure decisions: refresh-ahead with jitter, capped backoff, entry state, health, metrics."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from microstax.controller.config import EntrySpec, SubjectSpec, Timing
from microstax.controller.metrics import make_registry, render
from microstax.controller.schedule import (
    EXPIRY_MARGIN,
    backoff_delay,
    refresh_at,
    servable,
    withdraw_at,
)
from microstax.controller.state import EntryState, TokenMeta, overall_health

T = Timing(refresh_fraction=0.5, jitter=0.1, min_backoff=1.0, max_backoff=60.0)


def spec(target: str = "t", timing: Timing = T) -> EntrySpec:
    return EntrySpec(workload="w", target=target, issuer="http://127.0.0.1:1",
                     output=Path(f"/tmp/{target}.jwt"), subject=SubjectSpec("jwt", Path("/s")),
                     timing=timing)


def meta(issued: float, lifetime: float, jti: str = "j") -> TokenMeta:
    return TokenMeta(jti=jti, issued_at=issued, expires_at=issued + lifetime, fingerprint="f" * 16)


@given(issued=st.floats(0, 2e9), lifetime=st.floats(5, 86400), rand=st.floats(0, 0.999999),
       fraction=st.floats(0.1, 0.9), jitter=st.floats(0, 0.4))
def test_refresh_lands_inside_the_jitter_window_and_before_expiry(
        issued: float, lifetime: float, rand: float, fraction: float, jitter: float) -> None:
    jitter = min(jitter, fraction - 0.05, 0.95 - fraction)
    timing = Timing(fraction, max(jitter, 0.0), 1.0, 60.0)
    when = refresh_at(issued, issued + lifetime, timing, rand)
    latest = issued + lifetime - max(lifetime * 0.05, 2 * EXPIRY_MARGIN)
    assert issued <= when <= max(issued, latest) + 1e-6
    center, spread = issued + lifetime * fraction, lifetime * timing.jitter
    assert when <= center + spread + 1e-6
    assert when >= min(center - spread, max(issued, latest)) - 1e-6


def test_jitter_spreads_refreshes() -> None:
    rng = random.Random(7)
    times = [refresh_at(0, 300, T, rng.random()) for _ in range(500)]
    assert min(times) < 140 and max(times) > 160
    assert all(120 <= t <= 180 for t in times)


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    delays = [backoff_delay(n, T, 0.999) for n in range(1, 12)]
    assert delays[0] == 1.0
    assert delays == sorted(delays)
    assert delays[-1] <= 60.0 and delays[-1] > 59
    low = [backoff_delay(n, T, 0.0) for n in range(1, 12)]
    assert all(a >= 1.0 for a in low)
    assert low[-1] == 30.0  # equal jitter: the upper half of the cap


def test_backoff_honours_retry_after_and_approaching_expiry() -> None:
    assert backoff_delay(1, T, 0.0, retry_after=17) == 17
    assert backoff_delay(1, T, 0.0, retry_after=10_000) == 60  # bounded by max_backoff
    # with 20 s of token left, retries come at least every 5 s even deep into the backoff
    assert backoff_delay(10, T, 0.9, remaining=20) == 5
    assert backoff_delay(10, T, 0.9, remaining=2) == 1.0  # never below min_backoff


def test_withdrawal_comes_before_expiry() -> None:
    assert withdraw_at(100) == 100 - EXPIRY_MARGIN
    assert servable(100, 98.9) and not servable(100, 99.0) and not servable(None, 0)


def test_entry_state_lifecycle_and_health() -> None:
    state = EntryState(spec=spec())
    assert state.status(0) == "pending" and not state.holds(0)
    nxt = state.issued_token(meta(1000, 30), 1000, 0.5)
    assert nxt == 1015 and state.status(1001) == "ok" and state.issued == 1
    delay = state.failed("network", "refused", 1015, 0.0)
    assert state.status(1016) == "degraded" and state.holds(1016)
    assert 1.0 <= delay <= 15 / 4 + 1e-9
    state.failed("network", "refused", 1020, 0.0)
    assert state.failures == 2 and state.failures_by_cause["network"] == 2
    assert state.withdraw_due(1029.0) and not state.withdraw_due(1028.9)
    state.withdrawn()
    assert state.status(1030) == "expired" and not state.holds(1030)
    state.issued_token(meta(1040, 30, "k"), 1040, 0.5)
    assert state.failures == 0 and state.last_error is None and state.status(1041) == "ok"


def test_overall_health_is_ready_only_when_every_entry_holds_a_token() -> None:
    a, b = EntryState(spec=spec("a")), EntryState(spec=spec("b"))
    a.issued_token(meta(0, 30), 0, 0.5)
    ready, body = overall_health([a, b], 5)
    assert not ready and body["summary"] == {"ok": 1, "pending": 1}
    b.issued_token(meta(0, 30), 0, 0.5)
    b.failed("denied", "invalid_scope: no", 16, 0.5)
    ready, body = overall_health([a, b], 16)
    assert ready and body["status"] == "ready"
    entry = body["entries"][1]
    assert entry["status"] == "degraded" and entry["lastError"]["cause"] == "denied"
    assert entry["token"]["jti"] == "j" and "token" not in str(entry["token"].values()).lower()
    assert overall_health([], 0)[0] is False


class _Source:
    def __init__(self, states: list[EntryState]) -> None:
        self._states = states

    def states(self) -> list[EntryState]:
        return self._states

    def reloads(self) -> dict[str, int]:
        return {"ok": 2, "error": 1}


def test_metrics_text() -> None:
    state = EntryState(spec=spec("stx-eu"))
    state.issued_token(meta(100, 30), 100, 0.5)
    state.failed("rate_limited", "429", 116, 0.5, retry_after=3)
    state.renews_by_result["ok"] += 1
    text = render(make_registry(_Source([state]), lambda: 110.0)).decode()
    labels = 'target="stx-eu",workload="w"'
    assert f"microstax_controller_tokens_issued_total{{{labels}}} 1.0" in text
    assert f'microstax_controller_refresh_failures_total{{cause="rate_limited",{labels}}} 1.0' in text
    assert f"microstax_controller_token_expiry_seconds{{{labels}}} 20.0" in text
    assert f"microstax_controller_token_valid{{{labels}}} 1.0" in text
    assert f'microstax_controller_renew_hooks_total{{result="ok",{labels}}} 1.0' in text
    assert 'microstax_controller_config_reloads_total{result="error"} 1.0' in text
    assert "microstax_controller_ready 1.0" in text
    assert "microstax_controller_entries 1.0" in text
