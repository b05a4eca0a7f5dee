"""The exchanged-token cache of one process: entries, failures, in-flight exchanges, the vault.

``TokenCache`` owns the verified tokens exchanged so far (per ``CacheKey``), the last failure
per (environment, cluster), the exchanges under way (single-flight: concurrent callers for one
key share one exchange), and what the vault (``cache.TokenVault``) kept from earlier runs.
A token is served while fresh (refresh-ahead); when its re-exchange fails the previous token
is served until it expires, with the failure attached.

It emits no events: after an exchange succeeds or fails it calls ``on_change`` (the facade's
handler, which reports ``ClusterStateChanged``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..jose import VerifiedToken
from .cache import CacheEntry, CacheKey, TokenVault
from .context import Context
from .exceptions import IdentityError, KeyringUnavailable
from .federation import failure_of
from .locks import file_lock
from .models import ClusterInfo, Failure

log = logging.getLogger("microstax.identity")

#: ``on_change(environment, cluster, identity)`` after an exchange succeeded or failed
OnClusterChange = Callable[[str, ClusterInfo, str], Awaitable[None]]
Exchange = Callable[[], Awaitable[tuple[str, VerifiedToken]]]


class TokenCache:
    """Exchanged tokens (see the module docstring)."""

    def __init__(self, ctx: Context, on_change: OnClusterChange, *, persist: bool = True) -> None:
        self.ctx = ctx
        self.on_change = on_change
        self.persist_tokens = persist
        self.entries: dict[CacheKey, CacheEntry] = {}
        #: the same entries per (environment, cluster), for the status of one cluster
        self._by_cluster: dict[tuple[str, str], dict[CacheKey, CacheEntry]] = {}
        self.failures: dict[tuple[str, str], Failure] = {}
        self._inflight: dict[CacheKey, asyncio.Future[CacheEntry]] = {}
        self._vault_loaded: set[str] = set()
        self._vault_meta: dict[str, dict[str, dict[str, Any]]] = {}
        self._notified_expired: set[CacheKey] = set()
        #: clusters whose vault record is to be written, per environment, and the writers
        self._dirty: dict[str, set[str]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    # -- serving --------------------------------------------------------------------------------

    async def get(self, key: CacheKey, cluster: ClusterInfo, exchange: Exchange, *,
                  force: bool = False) -> tuple[CacheEntry, bool, Failure | None]:
        """(entry, from cache?, the failed refresh if a previous token is served instead)."""
        # A fresh token in memory is served before anything else: it came from this process's
        # exchange or from the vault, and the vault holds nothing fresher for its key.
        entry = self.entries.get(key)
        if entry is not None and not force and entry.fresh(refresh_ahead=self.ctx.config.defaults.refresh_ahead):
            return entry, True, None
        if key.environment not in self._vault_loaded and self.persist_tokens:
            await self.ensure_vault(key.environment)
            entry = self.entries.get(key)
            if entry is not None and not force and entry.fresh(refresh_ahead=self.ctx.config.defaults.refresh_ahead):
                return entry, True, None
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._exchange(key, cluster, exchange))
            self._inflight[key] = future

            def done(f: asyncio.Future[CacheEntry], k: CacheKey = key) -> None:
                if self._inflight.get(k) is f:
                    del self._inflight[k]
                if not f.cancelled():
                    f.exception()  # retrieved: an error nobody awaits is not "never retrieved"

            future.add_done_callback(done)
        try:
            return await asyncio.shield(future), False, None
        except IdentityError as exc:
            stale = self.entries.get(key)
            if stale is not None and stale.valid():
                log.warning("%s: refresh failed, serving the previous token for %ds more: %s",
                            cluster.name, int(stale.expires_at - time.time()), exc.message)
                return stale, True, failure_of(exc)
            raise

    async def _exchange(self, key: CacheKey, cluster: ClusterInfo, exchange: Exchange) -> CacheEntry:
        try:
            token, verified = await exchange()
        except IdentityError as exc:
            self.failures[(key.environment, cluster.name)] = failure_of(exc)
            await self.on_change(key.environment, cluster, key.identity)
            raise
        claims = verified.claims
        exp = float(claims["exp"])
        iat = claims.get("iat")
        issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else time.time()
        entry = CacheEntry(key, token, exp, min(issued, time.time()), verified.parsed)
        self._put(entry)
        self.failures.pop((key.environment, cluster.name), None)
        self._notified_expired.discard(key)
        await self.on_change(key.environment, cluster, key.identity)
        return entry

    def _put(self, entry: CacheEntry) -> None:
        key = entry.key
        self.entries[key] = entry
        self._by_cluster.setdefault((key.environment, key.target), {})[key] = entry

    def _drop(self, key: CacheKey) -> None:
        del self.entries[key]
        same = self._by_cluster.get((key.environment, key.target))
        if same is not None:
            same.pop(key, None)
            if not same:
                del self._by_cluster[(key.environment, key.target)]

    def record_failure(self, env_name: str, cluster: str, failure: Failure) -> None:
        self.failures[(env_name, cluster)] = failure

    def best(self, env_name: str, cluster: str, identity: str | None, now: float) -> CacheEntry | None:
        """The valid token of (environment, cluster, identity) that lasts longest; from the
        vault's metadata (token-less) when this process holds none."""
        best: CacheEntry | None = None
        for key, entry in self._by_cluster.get((env_name, cluster), {}).items():
            if key.identity == identity and entry.valid(now) and (best is None or entry.expires_at > best.expires_at):
                best = entry
        if best is None and identity is not None:
            for m in self._vault_meta.get(env_name, {}).values():
                if (m.get("target") == cluster and m.get("identity") == identity
                        and float(m.get("expiresAt", 0)) - 5 > now):
                    best = CacheEntry(CacheKey(identity, env_name, cluster, str(m.get("service")), (), ""),
                                      "", float(m["expiresAt"]), float(m.get("issuedAt", now)))
        return best

    def newly_expired(self, now: float) -> list[CacheKey]:
        """Keys whose token expired since the last call (each reported once)."""
        out = []
        for key, entry in list(self.entries.items()):
            if not entry.valid(now) and key not in self._notified_expired:
                self._notified_expired.add(key)
                out.append(key)
        return out

    def cancel(self) -> None:
        for fut in list(self._inflight.values()):
            fut.cancel()

    # -- the vault ------------------------------------------------------------------------------

    async def ensure_vault(self, env_name: str, *, with_tokens: bool = True) -> None:
        if env_name in self._vault_loaded or not self.persist_tokens:
            return
        store = self.ctx.vault_store() if with_tokens else None
        vault = TokenVault(store, self.ctx.state_dir)
        try:
            snap = await self.ctx.in_thread(lambda: vault.load(env_name, with_tokens=store is not None))
        except KeyringUnavailable as exc:
            log.warning("exchanged tokens of earlier runs are not available: %s", exc.message)
            snap = await self.ctx.in_thread(lambda: vault.load(env_name, with_tokens=False))
        for entry in snap.entries.values():
            if entry.key not in self.entries:
                self._put(entry)
        for cluster, failure in snap.failures.items():
            self.failures.setdefault((env_name, cluster), failure)
        self._vault_meta[env_name] = snap.meta
        if store is not None:
            self._vault_loaded.add(env_name)

    async def persist(self, env_name: str, clusters: Iterable[str]) -> None:
        """Keep the clusters' tokens and failures in the vault for later runs. Written behind:
        the caller does not wait for the sealed write (a cold federate costs the exchange, not
        the disk and the keyring); writes for one environment coalesce, and ``flush`` (called by
        ``IdentityService.aclose``) waits for all of them."""
        if not self.persist_tokens:
            return
        self._dirty.setdefault(env_name, set()).update(clusters)
        task = self._writers.get(env_name)
        if task is None or task.done():
            self._writers[env_name] = asyncio.ensure_future(self._write_behind(env_name))

    async def _write_behind(self, env_name: str) -> None:
        while self._dirty.get(env_name):
            await self._save(env_name, self._dirty.pop(env_name))

    async def flush(self, env_name: str | None = None) -> None:
        """Wait for the vault writes under way (of one environment, or all)."""
        names = [env_name] if env_name is not None else list(self._writers)
        for name in names:
            task = self._writers.get(name)
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(task)

    async def _save(self, env_name: str, names: set[str]) -> None:
        vault = TokenVault(self.ctx.vault_store(), self.ctx.state_dir)
        entries = [e for k, e in self.entries.items() if k.environment == env_name and k.target in names]
        failures = {c: f for (e, c), f in self.failures.items() if e == env_name and c in names}
        cleared = names - set(failures)
        try:
            async with file_lock(vault.lock_path(env_name), timeout=30):
                await self.ctx.in_thread(lambda: vault.save(env_name, entries, failures, cleared=cleared))
        except (KeyringUnavailable, OSError, TimeoutError) as exc:
            log.warning("could not keep the exchanged tokens for later runs: %s",
                        getattr(exc, "message", type(exc).__name__))

    async def forget(self, env_name: str, *, keep_vault: bool, reload: bool = False) -> None:
        """Drop the environment's tokens and failures held in memory; without ``keep_vault``
        the vault's too; with ``reload`` read the vault again on next use."""
        for key in [k for k in self.entries if k.environment == env_name]:
            self._drop(key)
        for fk in [k for k in self.failures if k[0] == env_name]:
            del self.failures[fk]
        if reload or not keep_vault:
            self._vault_loaded.discard(env_name)
        if not keep_vault:
            self._dirty.pop(env_name, None)
            await self.flush(env_name)
            vault = TokenVault(self.ctx.vault_store(), self.ctx.state_dir)
            async with file_lock(vault.lock_path(env_name), timeout=30):
                await self.ctx.in_thread(vault.clear, env_name)


__all__ = ["TokenCache"]
