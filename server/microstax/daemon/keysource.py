"""Where the daemon gets an issuer's keys: discovery, then its JWKS (over the oauth layer)."""

from __future__ import annotations

import httpx

from ..jose import KeySet
from ..oauth.discovery import adiscover
from ..oauth.exceptions import DiscoveryError
from ..oauth.http import arequest_json, make_async_client


class JwksSource:
    """Fetches ``issuer`` → ``KeySet`` with one shared async HTTP client."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_async_client(timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 3.0)))
        return self._client

    async def __call__(self, issuer: str) -> KeySet:
        http = self._http()
        metadata = await adiscover(issuer, client=http)
        if not metadata.jwks_uri:
            raise DiscoveryError(f"the metadata of {issuer!r} names no jwks_uri")
        response = await arequest_json(http, "GET", metadata.jwks_uri)
        try:
            return KeySet.from_jwks(response.json)
        except Exception as exc:
            raise DiscoveryError(f"the JWKS of {issuer!r} is not usable: {getattr(exc, 'message', exc)}") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
