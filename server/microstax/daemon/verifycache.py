"""Offline-first verification for hovers: never wait on the network, fill keys in the background.

``IssuerKeys`` holds each issuer's ``KeySet`` in memory. ``lookup`` answers at once with what
it has and, when that is nothing, stale, or lacks a token's ``kid`` (a rotation), starts one
background fetch per issuer, bounded by ``bound`` seconds. ``get`` is for commands, which may
wait (still bounded).

``OfflineVerifier.verdict`` turns that into a ``Verdict``: ``unverifiable`` with the reason
"issuer keys not cached yet; refreshing" while keys load, the real verdict once they are
here. Only issuers the daemon trusts (configured environments and clusters, and issuers the
user explicitly verified a token against) are fetched for hovers: opening a file must not make
the daemon call arbitrary URLs named in it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..jose import PQ_HEADER, KeySet, ParsedToken, Policy, Verdict, check

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class FetchedKeys:
    """An issuer's keys, and whether its metadata demands the post-quantum part (None: decide
    from the keys, as ``Policy.require_pq`` does)."""

    keys: KeySet
    hybrid_required: bool | None = None


#: ``(issuer, kid) -> FetchedKeys`` (or a bare ``KeySet``); ``kid``, when given, is one the
#: cached keys lack (a rotation: the fetcher must look past its own cache); raises on failure
KeyFetcher = Callable[[str, str | None], Awaitable[FetchedKeys | KeySet]]

LOADING = "issuer keys not cached yet; refreshing"


@dataclass(slots=True)
class _Entry:
    keys: KeySet | None = None
    hybrid_required: bool | None = None
    fetched_at: float = 0.0
    error: str | None = None
    failed_at: float = 0.0
    task: asyncio.Task[KeySet] | None = None
    generation: int = 0


class IssuerKeys:
    """In-memory key sets per issuer, refreshed in the background."""

    def __init__(self, fetch: KeyFetcher, *, bound: float = 5.0, ttl: float = 300.0,
                 retry_after: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self.bound = bound
        self.ttl = ttl
        self.retry_after = retry_after
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self.listeners: list[Callable[[str], None]] = []

    def lookup(self, issuer: str, kid: str | None = None) -> tuple[KeySet | None, _Entry]:
        """What is cached for ``issuer`` now; starts a background refresh when useful.
        Call from the event loop's thread."""
        entry = self._entries.setdefault(issuer, _Entry())
        now = self._clock()
        stale = entry.keys is None or now - entry.fetched_at > self.ttl
        rotated = (kid is not None and entry.keys is not None and not entry.keys.has_kid(kid)
                   and now - entry.fetched_at > self.retry_after)
        backing_off = entry.error is not None and now - entry.failed_at < self.retry_after
        if (stale or rotated) and not backing_off:
            self._start(issuer, entry, kid if rotated else None)
        return entry.keys, entry

    def _start(self, issuer: str, entry: _Entry, kid: str | None = None) -> asyncio.Task[KeySet]:
        if entry.task is not None and not entry.task.done():
            return entry.task
        task = asyncio.get_running_loop().create_task(self._refresh(issuer, entry, kid))
        # a background failure is recorded in the entry; nobody else needs to see it raised
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        entry.task = task
        return task

    async def _refresh(self, issuer: str, entry: _Entry, kid: str | None) -> KeySet:
        try:
            fetched = await asyncio.wait_for(self._fetch(issuer, kid), self.bound)
        except TimeoutError:
            entry.error = f"the issuer's keys did not arrive within {self.bound:g}s"
            entry.failed_at = self._clock()
            log.info("keys of %s: %s", issuer, entry.error)
            raise
        except Exception as exc:
            entry.error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            entry.failed_at = self._clock()
            log.info("keys of %s could not be fetched: %s", issuer, entry.error)
            raise
        if isinstance(fetched, FetchedKeys):
            keys, entry.hybrid_required = fetched.keys, fetched.hybrid_required
        else:
            keys = fetched
        entry.keys, entry.fetched_at, entry.error = keys, self._clock(), None
        entry.generation += 1
        log.debug("keys of %s cached (%d keys)", issuer, len(keys))
        for listener in list(self.listeners):
            try:
                listener(issuer)
            except Exception:
                log.exception("key listener failed")
        return keys

    async def get(self, issuer: str, *, refresh: bool = False) -> KeySet:
        """The issuer's keys, fetching (bounded) when there are none, they are stale, or
        ``refresh``. Raises what the fetch raised (or ``TimeoutError``)."""
        entry = self._entries.setdefault(issuer, _Entry())
        fresh = entry.keys is not None and self._clock() - entry.fetched_at <= self.ttl
        if fresh and not refresh:
            assert entry.keys is not None
            return entry.keys
        task = self._start(issuer, entry)
        return await asyncio.shield(task)

    def hybrid_required(self, issuer: str) -> bool | None:
        """What the issuer's metadata says about the post-quantum part (None: unknown)."""
        entry = self._entries.get(issuer)
        return entry.hybrid_required if entry is not None else None

    def put(self, issuer: str, keys: KeySet) -> None:
        """Seed the cache (keys obtained elsewhere, e.g. by a command that verified a token)."""
        entry = self._entries.setdefault(issuer, _Entry())
        entry.keys, entry.fetched_at, entry.error = keys, self._clock(), None
        entry.generation += 1

    def clear(self) -> None:
        for entry in self._entries.values():
            if entry.task is not None and not entry.task.done():
                entry.task.cancel()
        self._entries.clear()


def _stable_until(claims: dict[str, object], now: float, leeway: float, cap: float) -> float:
    """Until when a verdict computed at ``now`` stays right: the next moment a time claim
    changes the outcome (``exp`` passing, ``nbf``/``iat`` arriving), at most ``cap`` away.
    Signatures do not change; new keys come with a new cache generation."""
    until = now + cap
    for name, sign in (("exp", 1), ("nbf", -1), ("iat", -1)):
        value = claims.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            moment = float(value) + sign * leeway
            if moment > now:
                until = min(until, moment)
    return until


def hover_policy(issuer: str, hybrid_required: bool | None = None) -> Policy:
    """What a hover checks: signatures against the token's own (trusted) issuer, times; no
    audience (the reader is not the audience) and any ``typ`` (foreign IdPs send ``JWT``).
    The PQ part is required when the issuer's metadata says so (else when its JWKS has a PQ
    key): a stripped token is then invalid, never merely classical."""
    return Policy(issuer=issuer, audience=None, typ=None, require_pq=True if hybrid_required else None)


class OfflineVerifier:
    """Verdicts for hovers from cached keys only; remembers recent verdicts."""

    def __init__(self, keys: IssuerKeys, trusted: Callable[[str], bool], *,
                 max_entries: int = 8192, verdict_ttl: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.trusted = trusted
        self.verdict_ttl = verdict_ttl
        self.max_entries = max_entries
        self._clock = clock
        self._verdicts: OrderedDict[tuple[bytes, str, int], tuple[Verdict, float]] = OrderedDict()

    def verdict(self, parsed: ParsedToken, now: float | None = None) -> Verdict:
        now = self._clock() if now is None else now
        has_pq = PQ_HEADER in parsed.header
        issuer = parsed.claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            return Verdict.unverifiable("the token names no issuer ('iss'), so there are no keys to check it with",
                                        has_pq=has_pq)
        if not self.trusted(issuer):
            return Verdict.unverifiable(
                "the issuer is not one of your configured environments or clusters; "
                "run \"Verify Token\" to fetch its keys", has_pq=has_pq)
        kid = parsed.header.get("kid")
        keys, entry = self.keys.lookup(issuer, kid if isinstance(kid, str) else None)
        if keys is None:
            if entry.error is not None and (entry.task is None or entry.task.done()):
                return Verdict.unverifiable(f"the issuer's keys could not be fetched: {entry.error}",
                                            has_pq=has_pq)
            return Verdict.unverifiable(LOADING, has_pq=has_pq)
        if isinstance(kid, str) and not keys.has_kid(kid) and entry.task is not None and not entry.task.done():
            return Verdict.unverifiable("the issuer's cached keys lack this token's key id; refreshing",
                                        has_pq=has_pq)
        digest = hashlib.blake2b(parsed.text.encode("ascii", "replace"), digest_size=16).digest()
        cache_key = (digest, issuer, entry.generation)
        hit = self._verdicts.get(cache_key)
        if hit is not None and hit[1] > now:
            self._verdicts.move_to_end(cache_key)
            return hit[0]
        policy = hover_policy(issuer, entry.hybrid_required)
        verdict, _, _ = check(parsed, keys, policy, now=now)
        # a message that counts seconds ("expired 40s ago") is not kept long
        cap = 30.0 if verdict.reason in ("expired", "not_yet_valid") else self.verdict_ttl
        self._verdicts[cache_key] = (verdict, _stable_until(parsed.claims, now, policy.leeway, cap))
        if len(self._verdicts) > self.max_entries:
            self._verdicts.popitem(last=False)
        return verdict
