"""Where the daemon gets an issuer's keys: ``oauth.jwks.AsyncKeyResolver`` (discovery, then the
JWKS, cached per their HTTP caching headers, refetched once for an unknown ``kid``)."""

from __future__ import annotations

import httpx

from ..oauth.http import make_async_client
from ..oauth.jwks import AsyncKeyResolver
from .verifycache import FetchedKeys


class JwksSource:
    """``issuer`` → its keys and whether its tokens must carry the post-quantum part."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._resolver: AsyncKeyResolver | None = None

    def _get_resolver(self) -> AsyncKeyResolver:
        if self._resolver is None:
            client = make_async_client(timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 3.0)))
            self._resolver = AsyncKeyResolver(client)
        return self._resolver

    async def __call__(self, issuer: str, kid: str | None = None) -> FetchedKeys:
        resolved = await self._get_resolver().resolve(issuer, kid)
        return FetchedKeys(resolved.keys, resolved.hybrid_required)

    async def aclose(self) -> None:
        if self._resolver is not None:
            await self._resolver.aclose()
            self._resolver = None
