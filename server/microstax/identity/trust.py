"""Issuer metadata for the client side's flows, and verification through the one policy.

``IssuerMetadata`` is what federate and sign-in need from a discovery document (the endpoints
of our flows). Keys and verification are ``identity.verification.Verifier``'s job (discovery,
the classical and PQ key sets, JWKS caching, the hybrid rule, the verified-token cache);
``TrustStore`` only adapts it to the exceptions the identity service expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..jose import KeySet, VerifiedToken
from ..oauth.exceptions import DiscoveryError
from ..oauth.hybrid import advertises_hybrid
from .verification import KeysUnavailable, TrustedIssuer, VerificationPolicy, Verifier


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

        grants = doc.get("grant_types_supported")
        return cls(
            issuer=str(doc.get("issuer")),
            token_endpoint=url("token_endpoint"),
            jwks_uri=url("jwks_uri"),
            device_authorization_endpoint=url("device_authorization_endpoint"),
            authorization_endpoint=url("authorization_endpoint"),
            revocation_endpoint=url("revocation_endpoint"),
            catalog_endpoint=url("microstax_catalog_endpoint"),
            hybrid_required=advertises_hybrid(doc),
            grant_types=tuple(g for g in grants if isinstance(g, str)) if isinstance(grants, list) else (),
            raw=doc,
        )


class TrustStore:
    """Discovery documents and keys by issuer, shared by every call of one service.
    ``allow_http``: plain http to non-loopback issuers too (the controller's ``allow_http``,
    for an in-cluster Service without TLS); loopback is always allowed."""

    def __init__(self, http: httpx.AsyncClient, *, timeout: float = 10.0, allow_http: bool = False) -> None:
        self.http = http
        self.timeout = timeout
        self.allow_http = allow_http
        self.verifier = Verifier(VerificationPolicy(timeout=timeout), http=http)
        self._meta: dict[str, tuple[object, IssuerMetadata]] = {}
        #: (issuer, jwks_uri) -> its settings: one object per issuer, so the verifier's caches
        #: keyed by it hash the same object instead of a new one per call
        self._trusted: dict[tuple[str, str | None], TrustedIssuer] = {}

    async def metadata(self, issuer: str) -> IssuerMetadata:
        """The issuer's metadata (cached); raises an ``OAuthError`` (``DiscoveryError``, …)."""
        provider = (await self.verifier.resolver_for(allow_http=self.allow_http).metadata(issuer)).value
        hit = self._meta.get(issuer)
        if hit is not None and hit[0] is provider:
            return hit[1]
        meta = IssuerMetadata.from_document(provider.raw)
        self._meta[issuer] = (provider, meta)
        return meta

    def _settings(self, issuer: str, jwks_uri: str | None) -> TrustedIssuer:
        settings = self._trusted.get((issuer, jwks_uri))
        if settings is None:
            if len(self._trusted) >= 1024:
                self._trusted.clear()
            settings = TrustedIssuer(issuer, jwks=(jwks_uri,) if jwks_uri else (), allow_http=self.allow_http)
            self._trusted[(issuer, jwks_uri)] = settings
        return settings

    async def keys(self, issuer: str, *, kid: str | None = None,
                   jwks_uri: str | None = None) -> tuple[KeySet, bool]:
        """(keys, hybrid required) for ``issuer``; ``jwks_uri`` skips discovery."""
        try:
            material = await self.verifier.keys(self._settings(issuer, jwks_uri), kid)
        except KeysUnavailable as exc:
            raise (exc.cause or DiscoveryError(exc.message, hint=exc.hint)) from None
        return material.keys, material.hybrid_required

    async def verify(self, token: str, *, issuer: str, audience: str | None,
                     typ: tuple[str, ...] | None, jwks_uri: str | None = None) -> VerifiedToken:
        """Verify ``token`` against ``issuer``'s keys; raises the ``JoseError`` that says why not
        (or an ``OAuthError`` when the keys cannot be had)."""
        try:
            result = await self.verifier.verify(token, issuer=self._settings(issuer, jwks_uri),
                                                audiences=(audience,) if audience else (), typ=typ)
        except KeysUnavailable as exc:
            raise (exc.cause or DiscoveryError(exc.message, hint=exc.hint)) from None
        result.raise_for_invalid()
        assert result.parsed is not None
        return VerifiedToken(result.parsed, result.verdict)
