"""A bounded cache of verified tokens, so a token seen again verifies almost free.

Entries are keyed by the token's signature segment (short: cheap to hash) and hit only when
the whole token text is equal (a memory compare), for the same key set object and an equal
policy; the cached result holds the token text anyway. Only successful verifications with an ``exp`` are cached, until ``exp``. On a
hit the time-based claims are re-checked against the window computed when the entry was made
(``nbf``/``iat`` .. ``exp``, widened by the policy's leeway); outside it the full claim check
runs and raises the right error.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .hybrid import Policy, VerifiedToken, _check_claims, _seconds, verify
from .keys import KeySet


@dataclass(slots=True)
class _Entry:
    token: str
    keys: KeySet
    policy: Policy
    valid_from: float
    valid_until: float
    result: VerifiedToken


class VerifiedTokenCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def verify(self, token: str, keys: KeySet, policy: Policy = Policy(), *,
               now: float | None = None) -> VerifiedToken:
        """Like ``hybrid.verify``, answering from the cache when it can."""
        now = time.time() if now is None else now
        if token[:1].isspace() or token[-1:].isspace():
            token = token.strip()
        key = token[token.rfind(".") + 1:]
        stale: _Entry | None = None
        with self._lock:
            entry = self._entries.get(key)
            if (entry is not None and entry.token == token and entry.keys is keys
                    and (entry.policy is policy or entry.policy == policy)):
                if entry.valid_from <= now <= entry.valid_until:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return entry.result
                stale = entry
        if stale is not None:
            _check_claims(stale.result.claims, policy, now)  # raises expired / not_yet_valid
        self.misses += 1
        result = verify(token, keys, policy, now=now)
        claims = result.claims
        exp = _seconds(claims, "exp")
        if exp is not None:
            starts = [t for t in (_seconds(claims, "nbf"), _seconds(claims, "iat")) if t is not None]
            valid_from = max(starts) - policy.leeway if starts else -math.inf
            with self._lock:
                self._entries[key] = _Entry(token, keys, policy, valid_from, exp + policy.leeway,
                                            result)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
