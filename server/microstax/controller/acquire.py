"""Getting one token for one entry: resolve the target, present the credential, verify.

The network half of the controller, over the protocol layer (``oauth``): discovery and keys
through the one verification policy (``identity.verification.Verifier``), RFC 8693 token exchange (``oauth.exchange``) for subject-token
entries, the client credentials grant (``oauth.client_credentials``) for client entries. Every
token that comes back is verified (issuer, audience, signatures, the PQ part when the issuer
signs hybrid) before anything is written.

Target resolution follows docs/platform-api.md: the central issuer's discovery document names
``microstax_catalog_endpoint``; the catalog gives each cluster's ``issuer``,
``tokenEndpoint``, ``audience``, ``connectorId`` and its environment's trust domain (for the
service's SPIFFE ID, sent as ``resource``). An issuer without a catalog is used directly: its
``token_endpoint``, audience = the target name.

Failures become ``AcquireError(cause, message)``; ``cause`` is the ``cause`` label of the
``microstax_controller_refresh_failures_total`` metric:

``network``       the issuer could not be reached (refused, DNS, TLS, timeout)
``unavailable``   it answered 5xx / ``temporarily_unavailable`` / ``server_error``
``rate_limited``  429 (``retry_after`` honoured)
``denied``        an OAuth error: the policy, scope, audience or client said no
``protocol``      an answer outside the protocol (not JSON, no access_token, …)
``discovery``     discovery, catalog or JWKS documents missing or wrong
``subject``       the subject token file is missing, unreadable, malformed or expired
``secret``        the client secret file is missing or unreadable
``verify``        the issued token failed verification (never written)
``config``        our side is wrong (unknown target cluster, environment mismatch)

(The loop adds ``write``, the output could not be written, and ``internal``, a bug.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..identity.catalog import Catalog, catalog_cluster, fetch_catalog, service_spiffe_id
from ..identity.exceptions import InvalidSubjectToken
from ..identity.federation import subject_from_jwt
from ..identity.verification import KeysUnavailable, TrustedIssuer, VerificationPolicy, Verifier
from ..jose import JoseError, parse
from ..oauth.client_credentials import client_credentials
from ..oauth.discovery import ProviderMetadata
from ..oauth.exceptions import (
    DiscoveryError,
    OAuthError,
    OAuthErrorResponse,
    ProtocolError,
    RateLimited,
    TransportError,
)
from ..oauth.exchange import ExchangeConfigError, ExchangeRequest, exchange
from ..oauth.jwks import AsyncKeyResolver
from ..oauth.tokens import ClientAuth, TokenResponse, token_type_uri
from .config import EntrySpec
from .files import CredentialFileError, read_credential
from .state import TokenMeta, fingerprint
from .svid import WorkloadApiUnavailable, fetch_jwt_svid

CATALOG_KEY = "microstax_catalog_endpoint"
CATALOG_TTL = 300.0
#: an unknown target triggers one catalog refetch, at most this often
CATALOG_REFETCH = 10.0
PUBLIC_CLIENT_ID = "microstax-cli"
UNAVAILABLE_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


class AcquireError(Exception):
    def __init__(self, cause: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to get a token for one cluster."""

    name: str
    issuer: str
    token_endpoint: str
    audience: str
    environment: str | None = None
    trust_domain: str | None = None
    connector_id: str | None = None

    def spiffe_id(self, service: str) -> str | None:
        if not self.trust_domain or not self.environment:
            return None
        return service_spiffe_id(self.trust_domain, self.environment, service)


@dataclass(frozen=True, slots=True)
class Acquired:
    token: str
    meta: TokenMeta
    target: Target

    def __repr__(self) -> str:  # never the token
        return f"Acquired(meta={self.meta!r}, target={self.target.name!r})"


def oauth_cause(exc: OAuthError) -> tuple[str, float | None]:
    if isinstance(exc, RateLimited):
        return "rate_limited", exc.retry_after
    if isinstance(exc, TransportError):
        return "network", None
    if isinstance(exc, OAuthErrorResponse):
        if exc.status >= 500 or exc.error in UNAVAILABLE_ERRORS:
            return "unavailable", None
        return "denied", None
    if isinstance(exc, DiscoveryError):
        return "discovery", None
    if isinstance(exc, ProtocolError):
        status = getattr(exc, "status", None)
        if (isinstance(status, int) and status >= 500) or "server error" in exc.message:
            return "unavailable", None
        return "protocol", None
    return "protocol", None


def targets_from_catalog(catalog: Catalog) -> dict[str, Target]:
    """Cluster name -> ``Target``, for the clusters of ``catalog`` that name a token endpoint."""
    found: dict[str, Target] = {}
    for env in catalog.environments.values():
        for item in env.clusters:
            cluster = catalog_cluster(item, catalog.issuer)
            if not cluster.issuer or not cluster.token_endpoint:
                continue
            found[cluster.name] = Target(
                name=cluster.name, issuer=cluster.issuer.rstrip("/"),
                token_endpoint=cluster.token_endpoint, audience=cluster.audience,
                environment=env.name, trust_domain=env.trust_domain or None,
                connector_id=cluster.connector_id)
    return found


@dataclass
class _CatalogCopy:
    targets: dict[str, Target]
    fetched_at: float


class Acquirer:
    """Fetches tokens for entries over one shared HTTP client; caches discovery and catalogs."""

    def __init__(self, http: httpx.AsyncClient, *, clock: Any = time.time) -> None:
        self.http = http
        self.clock = clock
        # each issued token is verified once: no verified-token cache
        self.verifier = Verifier(VerificationPolicy(token_cache_size=0), http=http)
        self._catalogs: dict[str, _CatalogCopy] = {}

    def resolver(self, allow_http: bool) -> AsyncKeyResolver:
        """Discovery and key caches (shared with the verifier)."""
        return self.verifier.resolver_for(allow_http=allow_http)

    async def _metadata(self, issuer: str, allow_http: bool) -> ProviderMetadata:
        return (await self.resolver(allow_http).metadata(issuer)).value

    async def _catalog(self, url: str, *, force: bool) -> dict[str, Target]:
        now = self.clock()
        copy = self._catalogs.get(url)
        if copy is not None and not force and now - copy.fetched_at < CATALOG_TTL:
            return copy.targets
        try:
            catalog, _ = await fetch_catalog(self.http, url)
            targets = targets_from_catalog(catalog)
        except OAuthError:
            if copy is not None:  # the catalog rarely changes: serve the last good copy
                return copy.targets
            raise
        self._catalogs[url] = _CatalogCopy(targets, now)
        return targets

    async def resolve(self, spec: EntrySpec) -> Target:
        meta = await self._metadata(spec.issuer, spec.allow_http)
        catalog_url = meta.get(CATALOG_KEY)
        if not isinstance(catalog_url, str):
            if not meta.token_endpoint:
                raise AcquireError("discovery", f"issuer {spec.issuer} publishes no token_endpoint")
            return Target(spec.target, spec.issuer, meta.token_endpoint, spec.target,
                          environment=spec.environment)
        targets = await self._catalog(catalog_url, force=False)
        target = targets.get(spec.target)
        copy = self._catalogs.get(catalog_url)
        if target is None and copy is not None and self.clock() - copy.fetched_at >= CATALOG_REFETCH:
            targets = await self._catalog(catalog_url, force=True)
            target = targets.get(spec.target)
        if target is None:
            raise AcquireError("config", f"the catalog of {spec.issuer} has no cluster "
                                         f"{spec.target!r}; check 'targets'")
        if spec.environment is not None and target.environment not in (None, spec.environment):
            raise AcquireError("config", f"cluster {spec.target!r} is in environment "
                                         f"{target.environment!r}, not {spec.environment!r}")
        return target

    # -- credentials -------------------------------------------------------------------------
    def _client_auth(self, spec: EntrySpec) -> ClientAuth:
        if spec.client is None:
            return ClientAuth(PUBLIC_CLIENT_ID, None, "none")
        try:
            secret = read_credential(spec.client.secret_file, "client secret")
        except CredentialFileError as exc:
            raise AcquireError("secret", exc.message) from None
        return ClientAuth(spec.client.client_id, secret, spec.client.method)

    def read_subject(self, spec: EntrySpec) -> str:
        """The current subject token, checked for shape and expiry by the identity layer's one
        check (``federation.subject_from_jwt``; not signature: the issuer does that). Raises
        ``AcquireError('subject', …)``."""
        assert spec.subject is not None and spec.subject.file is not None
        path = spec.subject.file
        try:
            text = read_credential(path, f"{spec.subject.kind} subject token")
        except CredentialFileError as exc:
            raise AcquireError("subject", exc.message) from None
        try:
            subject_from_jwt(text, where=f"in {path}")
        except InvalidSubjectToken as exc:
            hint = f"; {exc.hint}" if exc.hint else ""
            raise AcquireError("subject", f"{exc.message}{hint}") from None
        return text

    async def subject_token(self, spec: EntrySpec) -> str:
        """The subject token: from its file, or a fresh JWT-SVID from the Workload API."""
        assert spec.subject is not None
        if spec.subject.workload_api is None:
            return self.read_subject(spec)
        assert spec.subject.audience is not None
        try:
            return await fetch_jwt_svid(spec.subject.workload_api, spec.subject.audience)
        except WorkloadApiUnavailable as exc:
            raise AcquireError("subject", exc.message) from None

    # -- the one call --------------------------------------------------------------------------
    async def acquire(self, spec: EntrySpec) -> Acquired:
        """A fresh, verified token for ``spec``. Raises ``AcquireError``."""
        try:
            target = await self.resolve(spec)
            response = await self._request(spec, target)
            return await self._verify(spec, target, response)
        except ExchangeConfigError as exc:  # an OAuthError of our own making: before the others
            raise AcquireError("config", exc.message) from None
        except OAuthError as exc:
            cause, retry_after = oauth_cause(exc)
            raise AcquireError(cause, exc.message, retry_after=retry_after) from None

    async def _request(self, spec: EntrySpec, target: Target) -> TokenResponse:
        auth = self._client_auth(spec)
        if spec.subject is None:
            return await client_credentials(self.http, target.token_endpoint, auth,
                                            scope=spec.scopes, audience=(target.audience,))
        subject = await self.subject_token(spec)
        resource: tuple[str, ...] = ()
        if spec.service is not None:
            spiffe = target.spiffe_id(spec.service)
            if spiffe is None:
                raise AcquireError("config", f"cannot name service {spec.service!r} for "
                                             f"{target.name!r}: the issuer publishes no trust domain")
            resource = (spiffe,)
        # Without an explicit connector_id the issuer matches the subject token's own issuer
        # against the upstreams it trusts; the catalog's connectorId names the central issuer,
        # which is not who signed a Kubernetes or SPIFFE subject token.
        connector = spec.connector_id
        request = ExchangeRequest(
            subject_token=subject, subject_token_type=token_type_uri(spec.subject.token_type),
            requested_token_type="access_token", audience=(target.audience,), resource=resource,
            scope=spec.scopes, connector_id=connector)
        return await exchange(self.http, target.token_endpoint, request, flavour="microstax",
                              auth=auth)

    async def _verify(self, spec: EntrySpec, target: Target, response: TokenResponse) -> Acquired:
        token = response.access_token
        try:
            parse(token)
        except JoseError as exc:
            raise AcquireError("verify", f"the issued token is malformed ({exc.message})") from None
        try:
            result = await self.verifier.verify(
                token, issuer=TrustedIssuer(target.issuer, allow_http=spec.allow_http),
                audiences=(target.audience,))
        except KeysUnavailable as exc:
            if isinstance(exc.cause, OAuthError):
                raise exc.cause from None
            raise AcquireError("discovery", exc.message) from None
        if not result.valid:
            raise AcquireError("verify", f"the token issued for {target.name!r} failed "
                                         f"verification ({result.reason}: {result.message}); not written")
        claims = dict(result.claims)
        now = self.clock()
        exp = float(claims["exp"])
        expires_at = exp
        if response.expires_in is not None and response.expires_in > 0:
            expires_at = min(exp, response.received_at + response.expires_in)
        iat = claims.get("iat")
        issued_at = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else now
        issued_at = min(issued_at, now)
        if expires_at <= now:
            raise AcquireError("verify", f"the token issued for {target.name!r} is already expired")
        jti = claims.get("jti")
        meta = TokenMeta(jti=jti if isinstance(jti, str) else None, issued_at=issued_at,
                         expires_at=expires_at, fingerprint=fingerprint(token),
                         subject=claims.get("sub") if isinstance(claims.get("sub"), str) else None,
                         scope=claims.get("scope") if isinstance(claims.get("scope"), str) else None)
        return Acquired(token, meta, target)

    async def aclose(self) -> None:
        await self.http.aclose()
