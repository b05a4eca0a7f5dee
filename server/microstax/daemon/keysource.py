"""Where the daemon gets an issuer's keys: ``identity.verification.Verifier`` (discovery, the
classical ``jwks_uri`` set and the ``microstax_pq_jwks_uri`` set, cached per their HTTP caching
headers, refetched once for an unknown ``kid``; whether the PQ part is required)."""

from __future__ import annotations

import httpx

from ..identity.verification import KeyMaterial, KeysUnavailable, VerificationPolicy, Verifier
from ..oauth.http import make_async_client


class JwksSource:
    """``issuer`` → its ``KeyMaterial`` (keys, and whether its tokens must carry the PQ part)."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._verifier: Verifier | None = None
        self._client: httpx.AsyncClient | None = None

    def _get_verifier(self) -> Verifier:
        if self._verifier is None:
            self._client = make_async_client(
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 3.0)))
            self._verifier = Verifier(VerificationPolicy(timeout=self._timeout), http=self._client)
        return self._verifier

    async def __call__(self, issuer: str, kid: str | None = None) -> KeyMaterial:
        # ``kid`` is one the cached keys lack, classical or PQ: look for it in both sets
        try:
            return await self._get_verifier().keys(issuer, kid, pq_kid=kid)
        except KeysUnavailable as exc:
            raise (exc.cause or exc) from None

    async def aclose(self) -> None:
        verifier, client = self._verifier, self._client
        self._verifier = self._client = None
        if verifier is not None:
            await verifier.aclose()
        if client is not None:
            await client.aclose()
