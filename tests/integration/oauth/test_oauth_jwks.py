"""The JWKS cache and key resolver against a real loopback issuer (sync and async)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from oauth_helpers import FakeClock
from tests.harness.loopback_http import Issuer

from microstax.jose import HybridSigner, KeySet
from microstax.oauth.exceptions import DiscoveryError, HTTPStatusError, TransportError
from microstax.oauth.http import make_async_client, make_client
from microstax.oauth.jwks import (
    AsyncJWKSCache,
    AsyncKeyResolver,
    CachePolicy,
    JWKSCache,
    KeyResolver,
    hybrid_required,
)


def hits(issuer: Issuer) -> int:
    return issuer.hits[issuer.jwks_path]


def test_fetch_once_then_serve_from_cache_until_max_age(issuer: Issuer, clock: FakeClock,
                                                         signer: HybridSigner) -> None:
    cache = JWKSCache(issuer.jwks_url, clock=clock)
    snap = cache.get()
    assert snap.value.get(signer.classical.kid, "ES256") is not None
    assert snap.expires_at - snap.fetched_at == 300  # Cache-Control: max-age=300
    clock.advance(299)
    assert cache.get() is snap
    assert hits(issuer) == 1
    clock.advance(2)
    assert cache.get() is not snap
    assert hits(issuer) == 2


@pytest.mark.parametrize(("header_age", "lifetime"), [(5, 30.0), (10**7, 86400.0), (None, 300.0)])
def test_max_age_is_bounded(issuer: Issuer, clock: FakeClock, signer: HybridSigner,
                            header_age: int | None, lifetime: float) -> None:
    issuer.set_jwks(signer.key_set().to_jwks(), max_age=header_age)
    snap = JWKSCache(issuer.jwks_url, clock=clock).get()
    assert snap.expires_at - snap.fetched_at == lifetime


def test_unknown_kid_refetches_once_rate_limited(issuer: Issuer, clock: FakeClock,
                                                 signer: HybridSigner) -> None:
    cache = JWKSCache(issuer.jwks_url, clock=clock)
    cache.get(signer.classical.kid)
    assert hits(issuer) == 1
    cache.get(signer.classical.kid)  # known: no refetch
    assert hits(issuer) == 1
    cache.get("made-up-kid")  # unknown, but the last fetch was 0 s ago
    assert hits(issuer) == 1
    clock.advance(10)
    for _ in range(5):  # a flood of unknown kids costs one fetch per 10 s
        cache.get("made-up-kid")
    assert hits(issuer) == 2


def test_rotated_key_is_found_by_the_kid_refetch(issuer: Issuer, clock: FakeClock,
                                                 signer: HybridSigner) -> None:
    cache = JWKSCache(issuer.jwks_url, clock=clock)
    cache.get()
    rotated = HybridSigner.generate()
    issuer.set_jwks(KeySet([*signer.key_set(), *rotated.key_set()]).to_jwks())
    clock.advance(11)
    snap = cache.get(rotated.classical.kid)
    assert snap.value.get(rotated.classical.kid, "ES256") is not None
    assert hits(issuer) == 2


def test_stale_on_error_within_bound(issuer: Issuer, clock: FakeClock) -> None:
    cache = JWKSCache(issuer.jwks_url, clock=clock)
    good = cache.get()
    issuer.raw(issuer.jwks_path, b"upstream down", status=503, content_type="text/plain")
    clock.advance(301)
    stale = cache.get()
    assert stale.stale and stale.value is good.value
    assert stale.stale_reason and "HTTP 503" in stale.stale_reason
    assert hits(issuer) == 2
    cache.get()  # failed refreshes are retried at most every 10 s
    assert hits(issuer) == 2
    clock.advance(3600 - 1)  # 1 h past expiry, still served
    assert cache.get().stale
    clock.advance(2)
    with pytest.raises(HTTPStatusError):
        cache.get()


def test_recovers_after_an_outage(issuer: Issuer, clock: FakeClock, signer: HybridSigner) -> None:
    cache = JWKSCache(issuer.jwks_url, clock=clock)
    cache.get()
    issuer.raw(issuer.jwks_path, b"", status=500)
    clock.advance(301)
    assert cache.get().stale
    issuer.set_jwks(signer.key_set().to_jwks())
    clock.advance(10)
    snap = cache.get()
    assert not snap.stale and snap.fetched_at == clock.now


def test_first_fetch_failure_raises_and_is_not_hammered(issuer: Issuer, clock: FakeClock) -> None:
    issuer.raw(issuer.jwks_path, b"", status=500)
    cache = JWKSCache(issuer.jwks_url, clock=clock)
    for _ in range(3):
        with pytest.raises(HTTPStatusError):
            cache.get()
    assert hits(issuer) == 1


def test_a_bad_document_counts_as_a_failure(issuer: Issuer, clock: FakeClock,
                                            signer: HybridSigner) -> None:
    cache = JWKSCache(issuer.jwks_url, clock=clock)
    cache.get()
    issuer.json(issuer.jwks_path, {"keys": [signer.classical.private_jwk()]})
    clock.advance(301)
    snap = cache.get()
    assert snap.stale and snap.stale_reason and "private key material" in snap.stale_reason
    issuer.json(issuer.jwks_path, {"keys": []})
    clock.advance(10)
    assert "no signature keys" in (cache.get().stale_reason or "")


def test_threads_share_one_fetch(issuer: Issuer, signer: HybridSigner) -> None:
    issuer.set_jwks(signer.key_set().to_jwks())
    issuer.routes[issuer.jwks_path].delay = 0.3
    cache = JWKSCache(issuer.jwks_url)
    results: list[object] = []
    barrier = threading.Barrier(12)

    def worker() -> None:
        barrier.wait()
        results.append(cache.get(signer.classical.kid).value)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 12 and len({id(r) for r in results}) == 1
    assert hits(issuer) == 1


def test_async_cache_single_flight_and_kid_refetch(issuer: Issuer, clock: FakeClock,
                                                   signer: HybridSigner) -> None:
    issuer.routes[issuer.jwks_path].delay = 0.2

    async def go() -> None:
        async with make_async_client() as client:
            cache = AsyncJWKSCache(issuer.jwks_url, client=client, clock=clock)
            snaps = await asyncio.gather(*(cache.get() for _ in range(10)))
            assert len({id(s) for s in snaps}) == 1
            assert hits(issuer) == 1
            clock.advance(10)
            await cache.get("unknown")
            assert hits(issuer) == 2

    asyncio.run(go())


def test_resolver_discovers_then_caches(issuer: Issuer, clock: FakeClock,
                                        signer: HybridSigner) -> None:
    resolver = KeyResolver(make_client(), clock=clock)
    assert resolver.peek(issuer.issuer) is None
    resolved = resolver.resolve(issuer.issuer, signer.classical.kid)
    assert resolved.hybrid_required
    assert resolved.keys.get(signer.pq.kid, "ML-DSA-65") is not None
    resolver.resolve(issuer.issuer)
    assert issuer.hits["/.well-known/openid-configuration"] == 1
    assert hits(issuer) == 1
    peeked = resolver.peek(issuer.issuer)
    assert peeked is not None and not peeked.stale
    clock.advance(301)
    peeked = resolver.peek(issuer.issuer)
    assert peeked is not None and peeked.stale  # peek never fetches
    assert hits(issuer) == 1
    resolver.close()


def test_resolver_without_jwks_uri(server, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    server.json("/.well-known/openid-configuration", {"issuer": server.url})
    with pytest.raises(DiscoveryError, match="no jwks_uri"):
        KeyResolver(clock=clock).resolve(server.url)


def test_resolver_unreachable(dead_url: str) -> None:
    with pytest.raises(TransportError):
        KeyResolver().resolve(dead_url)


def test_async_resolver(issuer: Issuer, signer: HybridSigner) -> None:
    async def go() -> None:
        resolver = AsyncKeyResolver()
        resolved = await resolver.resolve(issuer.issuer, signer.classical.kid)
        assert resolved.hybrid_required and len(resolved.keys) == 2
        assert resolver.peek(issuer.issuer) is not None
        await resolver.aclose()

    asyncio.run(go())


def test_hybrid_required_signals(signer: HybridSigner) -> None:
    classical = KeySet([signer.classical.verification_key()])
    both = signer.key_set()
    assert hybrid_required({"microstax_hybrid_signing": {"required": True}}, classical)
    assert hybrid_required(None, both)
    assert hybrid_required({"microstax_hybrid_signing": {"required": False}}, both)
    assert not hybrid_required({"microstax_hybrid_signing": {"required": False}}, classical)
    assert not hybrid_required({"microstax_hybrid_signing": {"required": "yes"}}, classical)
    assert not hybrid_required(None, None)


def test_cache_policy_is_configurable(issuer: Issuer, clock: FakeClock) -> None:
    cache = JWKSCache(issuer.jwks_url, clock=clock,
                      policy=CachePolicy(max_max_age=60, unknown_kid_interval=1))
    snap = cache.get()
    assert snap.expires_at - snap.fetched_at == 60
    clock.advance(1)
    cache.get("nope")
    assert hits(issuer) == 2
