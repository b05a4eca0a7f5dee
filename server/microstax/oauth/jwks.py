"""JWKS caching and issuer key resolution, sync (CLI) and async (daemon) over one state machine.

``FetchState`` is pure (no I/O, no clock, no locks): it says when to fetch and what to serve.
The rules, with the defaults of ``CachePolicy``:

* A document lives for its ``Cache-Control: max-age`` (less ``Age``), bounded to
  [30 s, 24 h]; 5 min when the server says nothing; ``no-cache``/``no-store`` count as 30 s.
* A ``kid`` the cached JWKS does not have triggers one refetch, at most every 10 s (a token
  signed by a freshly rotated key verifies; a flood of made-up kids cannot hammer the issuer).
* When a refresh fails, the last good copy is served for up to 1 h past its expiry, marked
  ``stale`` with the reason; failed refreshes are retried at most every 10 s. Past that
  bound, or with no copy at all, the error is raised.

``JWKSCache``/``AsyncJWKSCache`` wrap one JWKS URL; ``KeyResolver``/``AsyncKeyResolver`` go
from an issuer to its metadata (discovery) and keys, caching both. The keys are those of the
``jwks_uri`` (classical) together with those of ``microstax_pq_jwks_uri`` (post-quantum) when
the metadata names one (see ``oauth.hybrid``). Fetches are single-flight:
concurrent callers wait for the one fetch under way and share its result. All of them are
safe to share between threads (the async ones within one event loop).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import httpx

from ..jose import KeySet, KeyStoreError
from .caching import CachePolicy
from .discovery import ProviderMetadata, adiscover, check_url, discover
from .exceptions import DiscoveryError, OAuthError
from .http import (
    arequest_json,
    delta_seconds,
    make_async_client,
    make_client,
    request_json,
    safe_url,
)
from .hybrid import hybrid_required

__all__ = ["AsyncJWKSCache", "AsyncKeyResolver", "CachePolicy", "FetchState", "JWKSCache",
           "KeyResolver", "ResolvedKeys", "Snapshot", "cache_lifetime", "hybrid_required",
           "parse_jwks"]

T = TypeVar("T")
Clock = Callable[[], float]


#: kube-apiserver's /openid/v1/jwks answers 406 unless application/jwk-set+json is acceptable
JWKS_HEADERS = {"Accept": "application/jwk-set+json, application/json"}
#: Discovery documents change rarely and carry no useful caching headers on most IdPs.
METADATA_POLICY = CachePolicy(default_max_age=3600.0)


def cache_lifetime(cache_control: str | None, policy: CachePolicy, *, age: str | None = None) -> float:
    """Seconds a response may be used, from its ``Cache-Control`` (and ``Age``), bounded."""
    lifetime = policy.default_max_age
    if cache_control:
        directives = {}
        for part in cache_control.lower().split(","):
            name, _, value = part.strip().partition("=")
            directives[name.strip()] = value.strip().strip('"')
        if "no-store" in directives or "no-cache" in directives:
            lifetime = policy.min_max_age
        elif "max-age" in directives:
            max_age = delta_seconds(directives["max-age"], limit=int(policy.max_max_age))
            lifetime = policy.default_max_age if max_age is None else float(max_age)
    age_seconds = delta_seconds(age, limit=int(policy.max_max_age))
    if age_seconds is not None:
        lifetime -= age_seconds
    return min(max(lifetime, policy.min_max_age), policy.max_max_age)


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """A cached value and how fresh it is."""

    value: T
    source: str
    fetched_at: float
    expires_at: float
    #: served past ``expires_at`` because a refresh failed; ``stale_reason`` says why
    stale: bool = False
    stale_reason: str | None = None

    def fresh(self, now: float) -> bool:
        return now < self.expires_at


@dataclass
class FetchState(Generic[T]):
    """The pure cache state machine behind every fetcher here."""

    policy: CachePolicy = field(default_factory=CachePolicy)
    snapshot: Snapshot[T] | None = None
    last_attempt: float = -math.inf
    last_error: OAuthError | None = None  # the latest fetch failed (cleared by a success)

    def needs_fetch(self, now: float, *, missing: bool = False) -> bool:
        """Should the caller fetch now? ``missing``: the wanted item is not in the snapshot."""
        snap = self.snapshot
        if self.last_error is not None and now - self.last_attempt < self.policy.retry_interval:
            return False
        if snap is None or not snap.fresh(now):
            return True
        return missing and now - self.last_attempt >= self.policy.unknown_kid_interval

    def begin(self, now: float) -> None:
        self.last_attempt = now

    def succeeded(self, value: T, source: str, now: float, *, lifetime: float) -> Snapshot[T]:
        self.snapshot = Snapshot(value, source, now, now + lifetime)
        self.last_error = None
        return self.snapshot

    def failed(self, error: OAuthError, now: float) -> Snapshot[T]:
        self.last_error = error
        return self.current(now)

    def current(self, now: float) -> Snapshot[T]:
        """What to serve without fetching: fresh, stale within bounds, or the last error."""
        snap = self.snapshot
        if snap is None:
            raise self.last_error or DiscoveryError("nothing fetched yet")
        if snap.fresh(now):
            return snap
        if self.last_error is None:  # expired, no failed refresh: the caller should fetch
            return snap
        if now - snap.expires_at <= self.policy.stale_if_error:
            return replace(snap, stale=True, stale_reason=self.last_error.message)
        raise self.last_error

    def peek(self, now: float) -> Snapshot[T] | None:
        """The snapshot if one exists (marked stale when expired), never raising."""
        snap = self.snapshot
        if snap is None or snap.fresh(now):
            return snap
        reason = self.last_error.message if self.last_error else "expired; not refreshed yet"
        return replace(snap, stale=True, stale_reason=reason)


def parse_jwks(doc: Any, url: str) -> KeySet:
    where = safe_url(url)
    try:
        keys = KeySet.from_jwks(doc)
    except KeyStoreError as exc:
        raise DiscoveryError(f"{where}: not a usable JWKS ({exc.message})", endpoint=where) from exc
    if not len(keys):
        raise DiscoveryError(f"{where}: the JWKS has no signature keys we can use", endpoint=where)
    return keys


# -- single-flight fetching ------------------------------------------------------------------
S = TypeVar("S")
R = TypeVar("R")


def _single_flight(plan: Callable[[], S | None], lock: Callable[[], threading.Lock],
                   begin: Callable[[], None], fetch: Callable[[], R],
                   done: Callable[[R | None, OAuthError | None], S]) -> S:
    """What ``plan()`` says to serve, or one fetch: callers that find a fetch under way wait on
    ``lock()`` and then serve its result (``plan()`` again); ``done`` records the outcome."""
    snap = plan()
    if snap is not None:
        return snap
    with lock():
        snap = plan()  # another thread may have fetched while we waited
        if snap is not None:
            return snap
        begin()
        try:
            result = fetch()
        except OAuthError as exc:
            return done(None, exc)
        return done(result, None)


async def _asingle_flight(plan: Callable[[], S | None], lock: Callable[[], asyncio.Lock],
                          begin: Callable[[], None], fetch: Callable[[], Awaitable[R]],
                          done: Callable[[R | None, OAuthError | None], S]) -> S:
    """``_single_flight`` for one event loop."""
    snap = plan()
    if snap is not None:
        return snap
    async with lock():
        snap = plan()
        if snap is not None:
            return snap
        begin()
        try:
            result = await fetch()
        except OAuthError as exc:
            return done(None, exc)
        return done(result, None)


# -- one JWKS URL ----------------------------------------------------------------------------
class _JWKSBase:
    def __init__(self, url: str, *, policy: CachePolicy | None = None, clock: Clock = time.time,
                 allow_http: bool = False) -> None:
        check_url(url, "JWKS URL", allow_http=allow_http)
        self.url = url
        self.clock = clock
        self.state: FetchState[KeySet] = FetchState(policy or CachePolicy())
        self._lock = threading.Lock()

    def _plan(self, kid: str | None) -> Snapshot[KeySet] | None:
        """The snapshot to serve, or None when this caller should fetch."""
        now = self.clock()
        with self._lock:
            snap = self.state.snapshot
            missing = kid is not None and snap is not None and not snap.value.has_kid(kid)
            if self.state.needs_fetch(now, missing=missing):
                return None
            return self.state.current(now)

    def _begin(self) -> None:
        with self._lock:
            self.state.begin(self.clock())

    def _done(self, response: Any, error: OAuthError | None) -> Snapshot[KeySet]:
        now = self.clock()
        with self._lock:
            if error is None:
                try:
                    keys = parse_jwks(response.json, self.url)
                except DiscoveryError as exc:
                    return self.state.failed(exc, now)
                lifetime = cache_lifetime(response.headers.get("cache-control"), self.state.policy,
                                          age=response.headers.get("age"))
                return self.state.succeeded(keys, self.url, now, lifetime=lifetime)
            return self.state.failed(error, now)

    def peek(self) -> Snapshot[KeySet] | None:
        with self._lock:
            return self.state.peek(self.clock())


class JWKSCache(_JWKSBase):
    """A cached JWKS behind one URL (sync)."""

    def __init__(self, url: str, *, client: httpx.Client | None = None, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.client = client or make_client()
        self._fetch_lock = threading.Lock()

    def get(self, kid: str | None = None) -> Snapshot[KeySet]:
        """The key set, fetching when needed (``kid``: refetch once if it is unknown)."""
        return _single_flight(lambda: self._plan(kid), lambda: self._fetch_lock, self._begin,
                              lambda: request_json(self.client, "GET", self.url, headers=JWKS_HEADERS),
                              self._done)


class AsyncJWKSCache(_JWKSBase):
    """A cached JWKS behind one URL (async; one event loop)."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.client = client or make_async_client()
        self._fetch_lock = asyncio.Lock()

    async def get(self, kid: str | None = None) -> Snapshot[KeySet]:
        return await _asingle_flight(
            lambda: self._plan(kid), lambda: self._fetch_lock, self._begin,
            lambda: arequest_json(self.client, "GET", self.url, headers=JWKS_HEADERS), self._done)


# -- issuer -> metadata + keys ---------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedKeys:
    """An issuer's metadata and current keys, and whether its tokens must be hybrid.

    ``jwks`` is the ``jwks_uri`` set; ``pq_jwks`` the ``microstax_pq_jwks_uri`` set when the
    metadata names one (and it was asked for); ``keys`` is both as one ``KeySet``.
    """

    issuer: str
    metadata: ProviderMetadata
    jwks: Snapshot[KeySet]
    pq_jwks: Snapshot[KeySet] | None = None

    @property
    def keys(self) -> KeySet:
        if self.pq_jwks is None:
            return self.jwks.value
        return _union(self.jwks.value, self.pq_jwks.value)

    @property
    def hybrid_required(self) -> bool:
        return hybrid_required(self.metadata, self.keys)

    @property
    def stale(self) -> bool:
        return self.jwks.stale or bool(self.pq_jwks and self.pq_jwks.stale)

    @property
    def stale_reason(self) -> str | None:
        return self.jwks.stale_reason or (self.pq_jwks.stale_reason if self.pq_jwks else None)


_UNIONS: dict[tuple[int, int], tuple[KeySet, KeySet, KeySet]] = {}
_UNIONS_LOCK = threading.Lock()


def _union(classical: KeySet, pq: KeySet) -> KeySet:
    """``classical.union(pq)``, memoised on the two snapshot objects so the merged set stays
    the same object while neither changes (caches keyed on the key set keep hitting)."""
    key = (id(classical), id(pq))
    with _UNIONS_LOCK:
        hit = _UNIONS.get(key)
        if hit is not None and hit[0] is classical and hit[1] is pq:
            return hit[2]
        merged = classical.union(pq)
        if len(_UNIONS) > 256:
            _UNIONS.clear()
        _UNIONS[key] = (classical, pq, merged)
        return merged


C = TypeVar("C", bound=_JWKSBase)


class _ResolverBase(Generic[C]):
    def __init__(self, *, allow_http: bool = False, policy: CachePolicy | None = None,
                 metadata_policy: CachePolicy = METADATA_POLICY, clock: Clock = time.time,
                 discovery_urls: Mapping[str, str] | None = None) -> None:
        self.allow_http = allow_http
        #: issuer -> the discovery document URL to use instead of the well-known ones
        self.discovery_urls: dict[str, str] = dict(discovery_urls or {})
        self.policy = policy or CachePolicy()
        self.metadata_policy = metadata_policy
        self.clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, FetchState[ProviderMetadata]] = {}
        self._jwks: dict[str, C] = {}

    def _meta_state(self, issuer: str) -> FetchState[ProviderMetadata]:
        with self._lock:
            state = self._metadata.get(issuer)
            if state is None:
                state = self._metadata[issuer] = FetchState(self.metadata_policy)
            return state

    def _meta_plan(self, state: FetchState[ProviderMetadata]) -> Snapshot[ProviderMetadata] | None:
        now = self.clock()
        with self._lock:
            return None if state.needs_fetch(now) else state.current(now)

    def _meta_begin(self, state: FetchState[ProviderMetadata]) -> None:
        with self._lock:
            state.begin(self.clock())

    def _meta_done(self, state: FetchState[ProviderMetadata], meta: ProviderMetadata | None,
                   error: OAuthError | None) -> Snapshot[ProviderMetadata]:
        now = self.clock()
        with self._lock:
            if error is not None or meta is None:
                return state.failed(error or DiscoveryError("discovery failed"), now)
            return state.succeeded(meta, meta.source, now,
                                   lifetime=self.metadata_policy.default_max_age)

    def _jwks_url(self, issuer: str, meta: ProviderMetadata) -> str:
        if not meta.jwks_uri:
            raise DiscoveryError(f"issuer {issuer!r} publishes no jwks_uri in its metadata",
                                 endpoint=safe_url(meta.source),
                                 hint="give the keys directly with --jwks")
        return meta.jwks_uri

    def peek(self, issuer: str, *, pq: bool = True) -> ResolvedKeys | None:
        """What is cached for ``issuer``, without any network (None when nothing is)."""
        meta = self._meta_state(issuer).peek(self.clock())
        if meta is None or not meta.value.jwks_uri:
            return None
        with self._lock:
            cache = self._jwks.get(meta.value.jwks_uri)
            pq_url = meta.value.pq_jwks_uri if pq else None
            pq_cache = self._jwks.get(pq_url) if pq_url else None
        jwks = cache.peek() if cache else None
        if jwks is None:
            return None
        pq_jwks = pq_cache.peek() if pq_cache else None
        if pq_url and pq_jwks is None:
            return None
        return ResolvedKeys(issuer, meta.value, jwks, pq_jwks)


class KeyResolver(_ResolverBase[JWKSCache]):
    """Issuer -> (metadata, keys), cached per issuer (sync)."""

    def __init__(self, client: httpx.Client | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client or make_client()
        self._fetch_locks: dict[str, threading.Lock] = {}

    def jwks_cache(self, url: str) -> JWKSCache:
        with self._lock:
            cache = self._jwks.get(url)
            if cache is None:
                cache = self._jwks[url] = JWKSCache(url, client=self.client, policy=self.policy,
                                                    clock=self.clock, allow_http=self.allow_http)
            return cache

    def metadata(self, issuer: str) -> Snapshot[ProviderMetadata]:
        state = self._meta_state(issuer)

        def lock() -> threading.Lock:
            with self._lock:
                return self._fetch_locks.setdefault(issuer, threading.Lock())

        return _single_flight(
            lambda: self._meta_plan(state), lock, lambda: self._meta_begin(state),
            lambda: discover(issuer, client=self.client, allow_http=self.allow_http,
                             discovery_url=self.discovery_urls.get(issuer)),
            lambda meta, error: self._meta_done(state, meta, error))

    def resolve(self, issuer: str, kid: str | None = None, *, pq_kid: str | None = None,
                pq: bool = True) -> ResolvedKeys:
        """Discover ``issuer`` and fetch its keys (refetching once for an unknown ``kid``, or
        ``pq_kid`` in the PQ set); ``pq=False`` leaves the PQ key set alone."""
        meta = self.metadata(issuer).value
        jwks = self.jwks_cache(self._jwks_url(issuer, meta)).get(kid)
        pq_jwks = None
        if pq and meta.pq_jwks_uri:
            pq_jwks = self.jwks_cache(meta.pq_jwks_uri).get(pq_kid)
        return ResolvedKeys(issuer, meta, jwks, pq_jwks)

    def close(self) -> None:
        self.client.close()


class AsyncKeyResolver(_ResolverBase[AsyncJWKSCache]):
    """Issuer -> (metadata, keys), cached per issuer (async; one event loop)."""

    def __init__(self, client: httpx.AsyncClient | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client or make_async_client()
        self._fetch_locks: dict[str, asyncio.Lock] = {}

    def jwks_cache(self, url: str) -> AsyncJWKSCache:
        with self._lock:
            cache = self._jwks.get(url)
            if cache is None:
                cache = self._jwks[url] = AsyncJWKSCache(
                    url, client=self.client, policy=self.policy, clock=self.clock,
                    allow_http=self.allow_http)
            return cache

    async def metadata(self, issuer: str) -> Snapshot[ProviderMetadata]:
        state = self._meta_state(issuer)

        def lock() -> asyncio.Lock:
            with self._lock:
                return self._fetch_locks.setdefault(issuer, asyncio.Lock())

        return await _asingle_flight(
            lambda: self._meta_plan(state), lock, lambda: self._meta_begin(state),
            lambda: adiscover(issuer, client=self.client, allow_http=self.allow_http,
                              discovery_url=self.discovery_urls.get(issuer)),
            lambda meta, error: self._meta_done(state, meta, error))

    async def resolve(self, issuer: str, kid: str | None = None, *, pq_kid: str | None = None,
                      pq: bool = True) -> ResolvedKeys:
        meta = (await self.metadata(issuer)).value
        jwks = await self.jwks_cache(self._jwks_url(issuer, meta)).get(kid)
        pq_jwks = None
        if pq and meta.pq_jwks_uri:
            pq_jwks = await self.jwks_cache(meta.pq_jwks_uri).get(pq_kid)
        return ResolvedKeys(issuer, meta, jwks, pq_jwks)

    async def aclose(self) -> None:
        await self.client.aclose()
