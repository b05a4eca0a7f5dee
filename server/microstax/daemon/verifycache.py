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
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..identity.verification import (
    KeyMaterial,
    VerdictCache,
    evaluate,
    material_from_keys,
    token_kids,
)
from ..jose import PQ_HEADER, KeySet, ParsedToken, Policy, Verdict, precheck
from ..jose.exceptions import MessageError

log = logging.getLogger(__name__)

#: ``(issuer, kid) -> KeyMaterial`` (or a bare ``KeySet``); ``kid``, when given, is one the
#: cached keys lack, classical or post-quantum (a rotation: the fetcher must look past its own
#: cache); raises on failure. What the keys mean (is the PQ part required?) is decided by
#: ``identity.verification``, never here.
KeyFetcher = Callable[[str, str | None], Awaitable[KeyMaterial | KeySet]]

LOADING = "issuer keys not cached yet; refreshing"


@dataclass(slots=True)
class _Entry:
    material: KeyMaterial | None = None
    fetched_at: float = 0.0
    error: str | None = None
    failed_at: float = 0.0
    task: asyncio.Task[KeyMaterial] | None = None
    generation: int = 0

    @property
    def keys(self) -> KeySet | None:
        return self.material.keys if self.material is not None else None


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

    def lookup(self, issuer: str, kid: str | None = None,
               pq_kid: str | None = None) -> tuple[KeySet | None, _Entry]:
        """What is cached for ``issuer`` now; starts a background refresh when useful (none
        cached, stale, or a ``kid``/``pq_kid`` the cached keys lack). Call from the event
        loop's thread."""
        entry = self._entries.setdefault(issuer, _Entry())
        now = self._clock()
        keys = entry.keys
        stale = keys is None or now - entry.fetched_at > self.ttl
        missing = None
        if keys is not None:
            missing = next((k for k in (kid, pq_kid) if k is not None and not keys.has_kid(k)), None)
            if missing == pq_kid and entry.material is not None and entry.material.hybrid_mode == "classical-only":
                missing = None  # PQ keys are not used for this issuer
        kid = missing
        rotated = kid is not None and now - entry.fetched_at > self.retry_after
        backing_off = entry.error is not None and now - entry.failed_at < self.retry_after
        if (stale or rotated) and not backing_off:
            self._start(issuer, entry, kid if rotated else None)
        return entry.keys, entry

    def _start(self, issuer: str, entry: _Entry, kid: str | None = None) -> asyncio.Task[KeyMaterial]:
        if entry.task is not None and not entry.task.done():
            return entry.task
        task = asyncio.get_running_loop().create_task(self._refresh(issuer, entry, kid))
        # a background failure is recorded in the entry; nobody else needs to see it raised
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        entry.task = task
        return task

    async def _refresh(self, issuer: str, entry: _Entry, kid: str | None) -> KeyMaterial:
        try:
            fetched = await asyncio.wait_for(self._fetch(issuer, kid), self.bound)
        except TimeoutError:
            entry.error = f"the issuer's keys did not arrive within {self.bound:g}s"
            entry.failed_at = self._clock()
            log.info("keys of %s: %s", issuer, entry.error)
            raise
        except Exception as exc:
            entry.error = exc.message if isinstance(exc, MessageError) else f"{type(exc).__name__}: {exc}"
            entry.failed_at = self._clock()
            log.info("keys of %s could not be fetched: %s", issuer, entry.error)
            raise
        material = fetched if isinstance(fetched, KeyMaterial) else material_from_keys(issuer, fetched)
        entry.material, entry.fetched_at, entry.error = material, self._clock(), None
        entry.generation += 1
        log.debug("keys of %s cached (%d keys)", issuer, len(material.keys))
        for listener in list(self.listeners):
            try:
                listener(issuer)
            except Exception:
                log.exception("key listener failed")
        return material

    async def material(self, issuer: str, *, refresh: bool = False,
                       kids: tuple[str | None, ...] = ()) -> KeyMaterial:
        """The issuer's keys, fetching (bounded) when there are none, they are stale, they lack
        one of ``kids`` (a rotation), or ``refresh``. Raises what the fetch raised (or
        ``TimeoutError``)."""
        entry = self._entries.setdefault(issuer, _Entry())
        fresh = entry.material is not None and self._clock() - entry.fetched_at <= self.ttl
        missing = next((k for k in kids if k is not None and entry.keys is not None
                        and not entry.keys.has_kid(k)), None)
        if fresh and not refresh and missing is None:
            assert entry.material is not None
            return entry.material
        task = self._start(issuer, entry, missing)
        return await asyncio.shield(task)

    async def get(self, issuer: str, *, refresh: bool = False) -> KeySet:
        """``material(issuer).keys``."""
        return (await self.material(issuer, refresh=refresh)).keys

    def clear(self) -> None:
        for entry in self._entries.values():
            if entry.task is not None and not entry.task.done():
                entry.task.cancel()
        self._entries.clear()


class OfflineVerifier:
    """Verdicts for hovers from cached keys only; remembers recent verdicts
    (``identity.verification.VerdictCache``, keyed by the whole token)."""

    def __init__(self, keys: IssuerKeys, trusted: Callable[[str], bool], *,
                 max_entries: int = 8192, verdict_ttl: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.trusted = trusted
        self.verdict_ttl = verdict_ttl
        self.max_entries = max_entries
        self._clock = clock
        self._verdicts = VerdictCache(max_entries, ttl=verdict_ttl)

    def verdict(self, parsed: ParsedToken, now: float | None = None) -> Verdict:
        now = self._clock() if now is None else now
        has_pq = PQ_HEADER in parsed.header
        _, early = precheck(parsed, Policy(typ=None))
        if early is not None:  # invalid on its shape alone: no key is fetched for it
            return Verdict(False, "not_checked", "not_checked" if has_pq else "absent",
                           early.reason, early.message)
        issuer = parsed.claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            return Verdict.unverifiable("the token names no issuer ('iss'), so there are no keys to check it with",
                                        has_pq=has_pq)
        if not self.trusted(issuer):
            return Verdict.unverifiable(
                "the issuer is not one of your configured environments or clusters; "
                "run \"Verify Token\" to fetch its keys", has_pq=has_pq)
        kid, pq_kid = token_kids(parsed)
        keys, entry = self.keys.lookup(issuer, kid, pq_kid)
        if keys is None or entry.material is None:
            if entry.error is not None and (entry.task is None or entry.task.done()):
                return Verdict.unverifiable(f"the issuer's keys could not be fetched: {entry.error}",
                                            has_pq=has_pq)
            return Verdict.unverifiable(LOADING, has_pq=has_pq)
        lacks = any(k is not None and not keys.has_kid(k) for k in (kid, pq_kid))
        if lacks and entry.task is not None and not entry.task.done():
            return Verdict.unverifiable("the issuer's cached keys lack this token's key id; refreshing",
                                        has_pq=has_pq)
        # What a hover checks: signatures against the token's own (trusted) issuer, times; no
        # audience (the reader is not the audience) and any ``typ`` (foreign IdPs send ``JWT``).
        # The PQ part is required as the one policy decides (a stripped token is then invalid).
        material = entry.material
        key = VerdictCache.key(parsed.text, issuer, "hover", material.hybrid_required)
        hit = self._verdicts.get(key, material.keys, now)
        if hit is not None:
            return hit.verdict
        result = evaluate(parsed, material, issuer=issuer, audiences=(), typ=None, now=now)
        self._verdicts.put(key, material.keys, result, now, 30.0)
        return result.verdict
