"""A bounded cache of verified tokens, so a token seen again verifies almost free.

Entries are keyed by a SHA-256 of the token text (the cache never holds token text as a
key), the policy and the key set it was checked against; they live until the token's ``exp``.
Only successful verifications are cached; time-based claims are re-checked on every hit.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .hybrid import Policy, VerifiedToken, _check_claims, verify
from .keys import KeySet


@dataclass(slots=True)
class _Entry:
    keys: KeySet
    policy: Policy
    expires: float
    result: VerifiedToken


class VerifiedTokenCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def verify(self, token: str, keys: KeySet, policy: Policy = Policy(), *,
               now: float | None = None) -> VerifiedToken:
        """Like ``hybrid.verify``, answering from the cache when it can."""
        now = time.time() if now is None else now
        digest = hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and entry.keys is keys and entry.policy == policy:
                if now <= entry.expires + policy.leeway:
                    self._entries.move_to_end(digest)
                    self.hits += 1
                    hit = entry.result
                else:
                    del self._entries[digest]
                    hit = None
            else:
                hit = None
        if hit is not None:
            _check_claims(hit.claims, policy, now)  # nbf/exp move with the clock
            return hit
        self.misses += 1
        result = verify(token, keys, policy, now=now)
        exp = result.claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            with self._lock:
                self._entries[digest] = _Entry(keys, policy, float(exp), result)
                self._entries.move_to_end(digest)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
