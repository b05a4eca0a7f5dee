"""Issuer discovery: OpenID Connect Discovery 1.0, then RFC 8414 authorization server metadata.

``discover(issuer)`` tries, in order, and takes the first document served:

    <issuer>/.well-known/openid-configuration                      (OIDC)
    <origin>/.well-known/oauth-authorization-server<issuer path>   (RFC 8414 §3)
    <issuer>/.well-known/oauth-authorization-server                (appended; common practice)

A 404 (or other non-success status) moves on to the next URL; an unreachable server stops at
once (``TransportError``). The document's ``issuer`` must equal the requested issuer exactly
(OIDC Discovery §4.3, RFC 8414 §3.3), otherwise it is a ``DiscoveryError`` — a mix-up or an
impersonation, never something to fall back from.

Plain ``http`` is accepted only for loopback hosts (development) unless ``allow_http`` is set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .exceptions import DiscoveryError, OAuthErrorResponse, ProtocolError
from .http import arequest_json, make_async_client, make_client, request_json, safe_url
from .hybrid import HYBRID_METADATA, PQ_JWKS_METADATA, advertises_hybrid, hybrid_signing

OIDC_WELL_KNOWN = "/.well-known/openid-configuration"
OAUTH_WELL_KNOWN = "/.well-known/oauth-authorization-server"
__all__ = ["HYBRID_METADATA", "PQ_JWKS_METADATA", "ProviderMetadata", "adiscover", "check_url",
           "discover", "discovery_urls", "is_loopback_host", "parse_metadata"]


def is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str, *, allow_http: bool = False) -> httpx.URL:
    """Accept an absolute https URL (or http on loopback, or anywhere with ``allow_http``)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DiscoveryError(f"the {what} {str(url)[:200]!r} is not a URL") from exc
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise DiscoveryError(f"the {what} {safe_url(parsed)} is not an absolute http(s) URL")
    if parsed.query or parsed.fragment:
        raise DiscoveryError(f"the {what} must not carry a query or fragment")
    if parsed.scheme == "http" and not allow_http and not is_loopback_host(parsed.host):
        raise DiscoveryError(
            f"the {what} {safe_url(parsed)} uses plain http on a non-loopback host",
            hint="use https (plain http is accepted only for 127.0.0.1/localhost)",
        )
    return parsed


def discovery_urls(issuer: str) -> list[str]:
    """The metadata URLs to try for ``issuer``, in order, without duplicates."""
    base = issuer.rstrip("/")
    parsed = httpx.URL(base)
    port = f":{parsed.port}" if parsed.port else ""
    origin = f"{parsed.scheme}://{parsed.host}{port}"
    path = parsed.path.rstrip("/")
    urls = [base + OIDC_WELL_KNOWN, origin + OAUTH_WELL_KNOWN + path, base + OAUTH_WELL_KNOWN]
    return list(dict.fromkeys(urls))


@dataclass(frozen=True)
class ProviderMetadata:
    """An issuer's validated metadata document."""

    issuer: str
    jwks_uri: str | None
    token_endpoint: str | None
    source: str
    raw: Mapping[str, Any] = field(repr=False)
    #: ``microstax_pq_jwks_uri``: the issuer's post-quantum (AKP) keys, apart from ``jwks_uri``
    pq_jwks_uri: str | None = None

    @property
    def hybrid_signing(self) -> Mapping[str, Any] | None:
        return hybrid_signing(self.raw)

    @property
    def signs_hybrid(self) -> bool:
        """The issuer says every token it signs carries a post-quantum part."""
        return advertises_hybrid(self.raw)

    def get(self, name: str, default: Any = None) -> Any:
        return self.raw.get(name, default)


def parse_metadata(doc: Any, issuer: str, source: str, *, allow_http: bool = False) -> ProviderMetadata:
    """Validate a metadata document fetched for ``issuer`` from ``source``."""
    where = safe_url(source)
    if not isinstance(doc, Mapping):
        raise DiscoveryError(f"{where}: the metadata is not a JSON object", endpoint=where)
    stated = doc.get("issuer")
    if stated != issuer:
        raise DiscoveryError(
            f"{where}: the document names issuer {str(stated)[:200]!r}, not {issuer!r}; "
            "the issuer must match exactly (scheme, host, port, path, trailing slash)",
            endpoint=where,
            hint="use exactly the issuer URL the provider publishes",
        )
    endpoints: dict[str, str | None] = {}
    for name in ("jwks_uri", "token_endpoint", PQ_JWKS_METADATA):
        value = doc.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise DiscoveryError(f"{where}: {name!r} is not a string", endpoint=where)
            check_url(value, name, allow_http=allow_http)
        endpoints[name] = value
    return ProviderMetadata(issuer, endpoints["jwks_uri"], endpoints["token_endpoint"], source, doc,
                            pq_jwks_uri=endpoints[PQ_JWKS_METADATA])


def _why(exc: ProtocolError | OAuthErrorResponse) -> str:
    if isinstance(exc, OAuthErrorResponse):
        return f"HTTP {exc.status} {exc.error}"
    return exc.message.split(": ", 1)[-1]  # the message without its leading URL


def _not_found(issuer: str, tried: list[tuple[str, str]]) -> DiscoveryError:
    detail = "; ".join(f"{safe_url(url)} -> {why}" for url, why in tried)
    return DiscoveryError(
        f"no discovery document for issuer {issuer!r} ({detail})",
        endpoint=safe_url(tried[0][0]) if tried else None,
        hint="check the issuer URL; or give the keys directly with --jwks",
    )


def _urls(issuer: str, discovery_url: str | None, allow_http: bool) -> list[str]:
    check_url(issuer, "issuer", allow_http=allow_http)
    if discovery_url is None:
        return discovery_urls(issuer)
    check_url(discovery_url, "discovery URL", allow_http=allow_http)
    return [discovery_url]


def discover(issuer: str, *, client: httpx.Client | None = None, allow_http: bool = False,
             discovery_url: str | None = None) -> ProviderMetadata:
    """Fetch and validate ``issuer``'s metadata (from ``discovery_url`` when given, which must
    still name ``issuer`` exactly). Raises an ``OAuthError``."""
    urls = _urls(issuer, discovery_url, allow_http)
    own = client is None
    http = client or make_client()
    tried: list[tuple[str, str]] = []
    try:
        for url in urls:
            try:
                response = request_json(http, "GET", url)
            except (ProtocolError, OAuthErrorResponse) as exc:
                tried.append((url, _why(exc)))
                continue
            return parse_metadata(response.json, issuer, url, allow_http=allow_http)
    finally:
        if own:
            http.close()
    raise _not_found(issuer, tried)


async def adiscover(issuer: str, *, client: httpx.AsyncClient | None = None, allow_http: bool = False,
                    discovery_url: str | None = None) -> ProviderMetadata:
    """The async twin of ``discover``."""
    urls = _urls(issuer, discovery_url, allow_http)
    own = client is None
    http = client or make_async_client()
    tried: list[tuple[str, str]] = []
    try:
        for url in urls:
            try:
                response = await arequest_json(http, "GET", url)
            except (ProtocolError, OAuthErrorResponse) as exc:
                tried.append((url, _why(exc)))
                continue
            return parse_metadata(response.json, issuer, url, allow_http=allow_http)
    finally:
        if own:
            await http.aclose()
    raise _not_found(issuer, tried)
