"""The pure JWKS cache state machine and Cache-Control parsing (no I/O, explicit clock)."""

from __future__ import annotations

import pytest

from microstax.oauth.exceptions import DiscoveryError, TransportError
from microstax.oauth.jwks import CachePolicy, FetchState, cache_lifetime

POLICY = CachePolicy()
T0 = 1000.0


@pytest.mark.parametrize(("header", "age", "seconds"), [
    (None, None, 300.0),
    ("public, max-age=600", None, 600.0),
    ("max-age=600", "100", 500.0),
    ('max-age="120"', None, 120.0),
    ("MAX-AGE=90, must-revalidate", None, 90.0),
    ("max-age=1", None, 30.0),
    ("max-age=999999999", None, 86400.0),
    ("no-store", None, 30.0),
    ("no-cache, max-age=600", None, 30.0),
    ("max-age=soon", None, 300.0),
    ("max-age=600", "5000", 30.0),
])
def test_cache_lifetime(header: str | None, age: str | None, seconds: float) -> None:
    assert cache_lifetime(header, POLICY, age=age) == seconds


def test_empty_state_wants_a_fetch() -> None:
    state: FetchState[str] = FetchState(POLICY)
    assert state.needs_fetch(T0)
    with pytest.raises(DiscoveryError):
        state.current(T0)
    assert state.peek(T0) is None


def test_fresh_snapshot_is_served() -> None:
    state: FetchState[str] = FetchState(POLICY)
    state.begin(T0)
    snap = state.succeeded("keys", "u", T0, lifetime=300)
    assert not state.needs_fetch(T0 + 299)
    assert state.current(T0 + 299) is snap
    assert state.needs_fetch(T0 + 300)


def test_missing_item_refetch_is_rate_limited() -> None:
    state: FetchState[str] = FetchState(POLICY)
    state.begin(T0)
    state.succeeded("keys", "u", T0, lifetime=300)
    assert not state.needs_fetch(T0 + 9.9, missing=True)
    assert state.needs_fetch(T0 + 10, missing=True)


def test_failure_serves_stale_within_bound_then_raises() -> None:
    state: FetchState[str] = FetchState(POLICY)
    state.begin(T0)
    state.succeeded("keys", "u", T0, lifetime=300)
    state.begin(T0 + 400)
    error = TransportError("down")
    stale = state.failed(error, T0 + 400)
    assert stale.stale and stale.stale_reason == "down" and stale.value == "keys"
    assert not state.needs_fetch(T0 + 405)  # retry interval
    assert state.needs_fetch(T0 + 410)
    assert state.current(T0 + 300 + 3600).stale
    with pytest.raises(TransportError):
        state.current(T0 + 300 + 3601)


def test_failure_of_a_kid_refetch_keeps_the_fresh_copy() -> None:
    state: FetchState[str] = FetchState(POLICY)
    state.begin(T0)
    snap = state.succeeded("keys", "u", T0, lifetime=300)
    state.begin(T0 + 20)
    assert state.failed(TransportError("down"), T0 + 20) is snap


def test_success_clears_the_error() -> None:
    state: FetchState[str] = FetchState(POLICY)
    state.begin(T0)
    with pytest.raises(TransportError):
        state.failed(TransportError("down"), T0)
    assert not state.needs_fetch(T0 + 1)
    state.begin(T0 + 10)
    state.succeeded("keys", "u", T0 + 10, lifetime=300)
    assert state.last_error is None and not state.current(T0 + 11).stale


def test_peek_marks_expired_copies_stale_without_raising() -> None:
    state: FetchState[str] = FetchState(POLICY)
    state.begin(T0)
    state.succeeded("keys", "u", T0, lifetime=300)
    peeked = state.peek(T0 + 10**6)
    assert peeked is not None and peeked.stale
