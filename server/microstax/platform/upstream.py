"""Key sets of trusted upstream issuers, fetched over HTTP (httpx) and cached.

A set is cached for ``ttl`` seconds; a token naming a ``kid`` the cached set lacks triggers
one early re-fetch (at most every ``min_refetch`` seconds), which is how an upstream's key
rotation is picked up. Fetch failures become ``UpstreamUnavailable``; the message names the
URL, never a token.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import httpx

from microstax.jose import JoseError, KeySet, loads_json

MAX_JWKS_BYTES = 512 * 1024
JWKS_ACCEPT = "application/jwk-set+json, application/json"


class UpstreamUnavailable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _Cached:
    keys: KeySet
    fetched: float


class UpstreamKeys:
    def __init__(self, *, ttl: float = 300.0, min_refetch: float = 30.0, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.ttl = ttl
        self.min_refetch = min_refetch
        self.timeout = timeout
        self._transport = transport
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, jwks_uri: str, *, kid: str | None = None, ca_pem: str | None = None) -> KeySet:
        """The key set at ``jwks_uri``; ``ca_pem``: a CA trusted for it besides the system's."""
        now = time.monotonic()
        cached = self._cache.get(jwks_uri)
        if cached is not None:
            fresh = now - cached.fetched < self.ttl
            knows = kid is None or cached.keys.has_kid(kid)
            if fresh and (knows or now - cached.fetched < self.min_refetch):
                return cached.keys
        lock = self._locks.setdefault(jwks_uri, asyncio.Lock())
        async with lock:
            cached = self._cache.get(jwks_uri)
            if cached is not None and time.monotonic() - cached.fetched < self.min_refetch:
                return cached.keys
            keys = await self._fetch(jwks_uri, ca_pem)
            self._cache[jwks_uri] = _Cached(keys, time.monotonic())
            return keys

    async def _fetch(self, jwks_uri: str, ca_pem: str | None = None) -> KeySet:
        verify: ssl.SSLContext | bool = True
        if ca_pem:
            verify = ssl.create_default_context()
            try:
                verify.load_verify_locations(cadata=ca_pem)
            except (ssl.SSLError, ValueError) as exc:
                raise UpstreamUnavailable(f"the CA for the upstream JWKS at {jwks_uri} is not usable") from exc
        try:
            # kube-apiserver's /openid/v1/jwks answers 406 unless jwk-set+json is acceptable
            async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport, verify=verify,
                                         follow_redirects=False) as client, \
                    client.stream("GET", jwks_uri, headers={"Accept": JWKS_ACCEPT}) as response:
                status = response.status_code
                body = bytearray()
                if status == 200:
                    async for chunk in response.aiter_bytes():  # bounded: never the whole of an
                        body += chunk                           # endless answer
                        if len(body) > MAX_JWKS_BYTES:
                            break
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"cannot fetch the upstream JWKS at {jwks_uri}: {type(exc).__name__}") from exc
        if status != 200:
            raise UpstreamUnavailable(f"the upstream JWKS at {jwks_uri} answered {status}")
        if len(body) > MAX_JWKS_BYTES:
            raise UpstreamUnavailable(f"the upstream JWKS at {jwks_uri} is too large")
        try:
            return KeySet.from_jwks(loads_json(bytes(body), "upstream JWKS"))
        except (ValueError, JoseError) as exc:
            raise UpstreamUnavailable(f"the upstream JWKS at {jwks_uri} is not a usable JWKS") from exc
