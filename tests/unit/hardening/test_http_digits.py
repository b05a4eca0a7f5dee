"""HTTP numbers are ASCII digits: ``Retry-After: ١٢``, ``Age: ²`` or ``max-age=٣`` are not
numbers (Python's ``int()`` would accept the first and crash on the second), and huge values
are capped. Exercised through a real HTTP server on loopback."""

from __future__ import annotations

import pytest
from tests.harness.loopback_http import LoopbackServer

from microstax.controller.config import split_listen
from microstax.jose import HybridSigner
from microstax.oauth.exceptions import RateLimited
from microstax.oauth.http import delta_seconds, make_client, request_json, retry_after_seconds
from microstax.oauth.jwks import CachePolicy, JWKSCache, cache_lifetime

UNICODE_DIGITS = ["١٢", "²", "۳", "\uff18\uff10", "\U0001d7d7", "12²", "½", "-5", "+5", "1e3", "5.0", " ", "0x10"]
KEYS = HybridSigner.generate().key_set()


def wire(text: str) -> str:
    """``text`` as its UTF-8 bytes on the wire (the server writes header values as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_not_ascii_digits_are_not_numbers(value: str) -> None:
    assert delta_seconds(value) is None
    assert retry_after_seconds(value) is None
    policy = CachePolicy()
    assert cache_lifetime(f"max-age={value}", policy) == policy.default_max_age
    assert cache_lifetime("max-age=600", policy, age=value) == 600


def test_huge_values_are_capped() -> None:
    assert delta_seconds("9" * 5000) == 86400
    assert retry_after_seconds("9" * 50) == 86400.0
    assert retry_after_seconds("9" * 5000) is None  # longer than any header we read
    policy = CachePolicy()
    assert cache_lifetime("max-age=" + "9" * 5000, policy) == policy.max_max_age
    assert cache_lifetime("max-age=600", policy, age="9" * 5000) == policy.min_max_age
    for date in ("Mon, 01 Jan 99999 00:00:00 GMT", "Wed, ٢١ Oct 2015 07:28:00 GMT",
                 "Wed, 21 Oct 2015 99:99:99 GMT", "Wed, 32 Foo 2015 07:28:00 GMT"):
        assert retry_after_seconds(date) is None


@pytest.mark.parametrize("value", ["١٢", "²", "9" * 400])
def test_a_429_with_odd_retry_after_over_http(value: str) -> None:
    with LoopbackServer() as server:
        server.json("/token", {"error": "slow_down"}, status=429, headers={"Retry-After": wire(value)})
        with make_client() as client, pytest.raises(RateLimited) as info:
            request_json(client, "POST", server.url + "/token")
    assert info.value.retry_after in (None, 86400.0)


@pytest.mark.parametrize(("cache_control", "age"), [("max-age=٣", None), ("max-age=²", None),
                                                    ("max-age=600", "١٢"), ("max-age=600", "²"),
                                                    ("max-age=" + "9" * 400, "9" * 400)])
def test_a_jwks_with_odd_cache_headers_over_http(cache_control: str, age: str | None) -> None:
    with LoopbackServer() as server:
        headers = {"Cache-Control": wire(cache_control)}
        if age is not None:
            headers["Age"] = wire(age)
        server.json("/jwks.json", KEYS.to_jwks(), headers=headers)
        snap = JWKSCache(server.url + "/jwks.json", client=make_client()).get()
    assert len(snap.value) == 2
    assert 30 <= snap.expires_at - snap.fetched_at <= 86400


@pytest.mark.parametrize("port", ["٨٠", "\uff18\uff10", "²", "99999999999999999999"])
def test_controller_listen_port_is_ascii(port: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        split_listen(f"127.0.0.1:{port}")
