"""Issuer metadata and keys for the client side, over ``oauth.jwks.AsyncKeyResolver``.

The resolver does discovery (the document must name exactly the issuer asked for), JWKS
caching by ``Cache-Control``, a rate-limited refetch for an unknown ``kid`` (rotation) and
serving the last good copy when a refresh fails. This module adds what federate needs on top:
the endpoints of our flows (``IssuerMetadata``) and verification through
``jose.VerifiedTokenCache``, so a token seen again costs a hash lookup.

The downgrade rule: when the issuer's metadata says it signs hybrid
(``microstax_hybrid_signing.required``) or its JWKS publishes a post-quantum key, a token
without a valid PQ part is rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..jose import KeySet, Policy, VerifiedToken, VerifiedTokenCache, parse
from ..jose.exceptions import MalformedToken
from ..oauth.jwks import AsyncKeyResolver, hybrid_required


@dataclass(frozen=True, slots=True)
class IssuerMetadata:
    issuer: str
    token_endpoint: str | None
    jwks_uri: str | None
    device_authorization_endpoint: str | None = None
    authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    catalog_endpoint: str | None = None
    hybrid_required: bool = False
    grant_types: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> IssuerMetadata:
        def url(name: str) -> str | None:
            value = doc.get(name)
            return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None

        hybrid = doc.get("microstax_hybrid_signing")
        grants = doc.get("grant_types_supported")
        return cls(
            issuer=str(doc.get("issuer")),
            token_endpoint=url("token_endpoint"),
            jwks_uri=url("jwks_uri"),
            device_authorization_endpoint=url("device_authorization_endpoint"),
            authorization_endpoint=url("authorization_endpoint"),
            revocation_endpoint=url("revocation_endpoint"),
            catalog_endpoint=url("microstax_catalog_endpoint"),
            hybrid_required=isinstance(hybrid, Mapping) and hybrid.get("required") is True,
            grant_types=tuple(g for g in grants if isinstance(g, str)) if isinstance(grants, list) else (),
            raw=doc,
        )


class TrustStore:
    """Discovery documents and key sets by issuer, shared by every call of one service."""

    def __init__(self, http: httpx.AsyncClient, *, timeout: float = 10.0) -> None:
        self.http = http
        self.timeout = timeout
        self.resolver = AsyncKeyResolver(http)
        self.cache = VerifiedTokenCache()
        self._meta: dict[str, tuple[object, IssuerMetadata]] = {}

    async def metadata(self, issuer: str) -> IssuerMetadata:
        """The issuer's metadata (cached); raises an ``OAuthError`` (``DiscoveryError``, …)."""
        provider = (await self.resolver.metadata(issuer)).value
        hit = self._meta.get(issuer)
        if hit is not None and hit[0] is provider:
            return hit[1]
        meta = IssuerMetadata.from_document(provider.raw)
        self._meta[issuer] = (provider, meta)
        return meta

    async def keys(self, issuer: str, *, kid: str | None = None,
                   jwks_uri: str | None = None) -> tuple[KeySet, bool]:
        """(keys, hybrid required) for ``issuer``; ``jwks_uri`` skips discovery."""
        if jwks_uri is not None:
            snap = await self.resolver.jwks_cache(jwks_uri).get(kid)
            return snap.value, hybrid_required(None, snap.value)
        resolved = await self.resolver.resolve(issuer, kid)
        return resolved.keys, resolved.hybrid_required

    async def verify(self, token: str, *, issuer: str, audience: str | None,
                     typ: tuple[str, ...] | None, jwks_uri: str | None = None) -> VerifiedToken:
        """Verify ``token`` against ``issuer``'s keys; raises the ``JoseError`` that says why not
        (or an ``OAuthError`` when the keys cannot be had)."""
        try:
            kid = parse(token).header.get("kid")
        except MalformedToken:
            kid = None
        keys, hybrid = await self.keys(issuer, kid=kid if isinstance(kid, str) else None, jwks_uri=jwks_uri)
        policy = Policy(issuer=issuer, audience=audience, typ=typ, require_pq=True if hybrid else None)
        return self.cache.verify(token, keys, policy)
