"""How long fetched documents (discovery, JWKS) are trusted: the knobs of ``oauth.jwks``'s
caches, kept apart from the HTTP code so that a verification policy can hold them without
importing httpx (an offline verify never does)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CachePolicy"]


@dataclass(frozen=True)
class CachePolicy:
    default_max_age: float = 300.0
    min_max_age: float = 30.0
    max_max_age: float = 24 * 3600.0
    #: a refetch for an unknown ``kid`` happens at most this often (seconds since any fetch)
    unknown_kid_interval: float = 10.0
    #: serve the last good copy for this long past its expiry when refreshing fails
    stale_if_error: float = 3600.0
    #: after a failed fetch, wait this long before trying again
    retry_interval: float = 10.0
