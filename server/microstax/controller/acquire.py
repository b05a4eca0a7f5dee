"""Getting one token for one entry: resolve the target, present the credential, verify.

The network half of the controller is a front end on the identity layer, like the CLI and the
daemon: the one exchanger (``identity.federation.Exchanger``: the RFC 8693 request for the
cluster, client authentication, the post, the verification of what came back through the trust
store and the one verification policy) and the one error translation
(``identity.translation``). Subject-token entries exchange (``Exchanger.request_for`` +
``run``), client entries use the client credentials grant (``Exchanger.workload``). Every token
that comes back is verified (issuer, audience, signatures, the PQ part when the issuer signs
hybrid) before anything is written, and one that is already expired is refused.

Credential files are read by the identity layer's one reader (``sessions.read_credential``),
again for every attempt; a subject token is checked for shape and expiry by
``federation.subject_from_jwt`` (the issuer checks its signature).

Target resolution follows docs/platform-api.md: the central issuer's discovery document names
``microstax_catalog_endpoint``; the catalog (``identity.catalog``) gives each cluster's
``issuer``, ``tokenEndpoint``, ``audience`` and its environment's trust domain (for the
service's SPIFFE ID, sent as ``resource``). The catalog is kept for ``CATALOG_TTL`` seconds, its
last good copy is served while it cannot be fetched, and an unknown target triggers one
refetch (at most every ``CATALOG_REFETCH`` seconds). An issuer without a catalog is used
directly: its ``token_endpoint``, audience = the target name.

Failures are identity errors (``IdentityError``). ``cause_of`` names the ``cause`` label of
``microstax_controller_refresh_failures_total`` (and of the health and state ``lastError``)
from the error's class and its ``details`` (``error``, ``status``), never from its text:

``network``       the issuer could not be reached (refused, DNS, TLS, timeout)
``unavailable``   it answered 5xx / ``temporarily_unavailable`` / ``server_error``
``rate_limited``  429 (``retryAfter`` honoured)
``denied``        an OAuth error: the policy, scope, audience or client said no
``protocol``      an answer outside the protocol (not JSON, no access_token, …)
``discovery``     discovery, catalog or JWKS documents missing or wrong
``subject``       the subject token file is missing, unreadable, malformed or expired
``secret``        the client secret file is missing or unreadable
``verify``        the issued token failed verification, or is already expired (never written)
``config``        our side is wrong (unknown target cluster, environment mismatch, an unusable
                  ``ca_file``)

(The loop adds ``write``, the output could not be written, and ``internal``, a bug: any other
exception, or an identity error ``cause_of`` does not know.)
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..identity.catalog import Catalog, catalog_cluster, fetch_catalog, service_spiffe_id
from ..identity.exceptions import (
    ConfigError,
    ExchangeDenied,
    IdentityError,
    IdpUnavailable,
    InvalidSubjectToken,
    SecretNotFound,
    UnknownCluster,
    UntrustedToken,
)
from ..identity.federation import Exchanger, SubjectToken, subject_from_jwt
from ..identity.models import ClusterInfo, ExchangeSettings
from ..identity.sessions import read_credential, read_subject_file
from ..identity.translation import translate
from ..identity.trust import TrustStore
from ..jose import VerifiedToken
from ..oauth.exceptions import DiscoveryError, OAuthError
from ..oauth.http import TrustError, make_async_client, tls_verify
from ..oauth.tokens import token_type_uri
from .config import EntrySpec
from .state import TokenMeta, fingerprint
from .svid import fetch_jwt_svid

CATALOG_TTL = 300.0
#: an unknown target triggers one catalog refetch, at most this often
CATALOG_REFETCH = 10.0
#: seconds for each request (discovery, catalog, token, JWKS); an attempt is bounded by the loop
TIMEOUT = 10.0
#: RFC 6749 error codes that say "not now" rather than "no"
UNAVAILABLE_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


#: the label of an error our side of the attempt raised (first match: ``SecretNotFound`` is a
#: ``ConfigError``)
CAUSE_BY_CLASS: tuple[tuple[type[IdentityError], str], ...] = (
    (UntrustedToken, "verify"), (InvalidSubjectToken, "subject"), (SecretNotFound, "secret"),
    (ConfigError, "config"))
#: the label of an ``IdpUnavailable`` by its ``error`` detail (else: ``unavailable`` for a 5xx,
#: ``denied`` for an OAuth error answer, kind ``auth``, and ``protocol`` for any other answer)
CAUSE_BY_ERROR = {"rate_limited": "rate_limited", "network": "network", "timeout": "network",
                  "discovery": "discovery"}


def cause_of(exc: IdentityError) -> str | None:
    """The ``cause`` label of a failed attempt (module docstring), from the class of the
    identity error and its ``details``; ``None`` for an error no attempt should raise (a bug:
    the loop counts it as ``internal``)."""
    for cls, label in CAUSE_BY_CLASS:
        if isinstance(exc, cls):
            return label
    error, status = exc.details.get("error"), exc.details.get("status")
    server_side = (isinstance(status, int) and status >= 500) or error in UNAVAILABLE_ERRORS
    if isinstance(exc, ExchangeDenied):
        return "unavailable" if server_side else "denied"
    if isinstance(exc, IdpUnavailable):
        by_error = CAUSE_BY_ERROR.get(error) if isinstance(error, str) else None
        if by_error is not None:
            return by_error
        if server_side:
            return "unavailable"
        # an OAuth error answered where no exchange was made (discovery, catalog): a no all the same
        return "denied" if error == "auth" else "protocol"
    return None


def failure_message(exc: IdentityError) -> str:
    """What a failure is called in the log, the health document and the state file. A subject
    token's hint (renew the file) is the controller's too; the other hints speak of the CLI's
    settings (flags, ``token_exchange`` blocks), so the message stands alone."""
    if isinstance(exc, InvalidSubjectToken) and exc.hint:
        return f"{exc.message}; {exc.hint}"
    return exc.message


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

    def cluster(self, spec: EntrySpec) -> ClusterInfo:
        """The cluster as the exchanger takes it (our platform's flavour) for ``spec``."""
        client = spec.client
        return ClusterInfo(
            name=self.name, environment=self.environment or "", issuer=self.issuer,
            token_endpoint=self.token_endpoint, audience=self.audience,
            exchange=ExchangeSettings(
                flavour="microstax", token_endpoint=self.token_endpoint, expected_issuer=self.issuer,
                # Without an explicit connector_id the issuer matches the subject token's own
                # issuer against the upstreams it trusts; the catalog's connectorId names the
                # central issuer, which is not who signed a Kubernetes or SPIFFE subject token.
                connector_id=spec.connector_id, audience=(self.audience,),
                client_id=client.client_id if client else None,
                client_secret_ref=f"file:{client.secret_file}" if client else None,
                auth_method=client.method if client else "none"))


@dataclass(frozen=True, slots=True)
class Acquired:
    token: str
    meta: TokenMeta
    target: Target

    def __repr__(self) -> str:  # never the token
        return f"Acquired(meta={self.meta!r}, target={self.target.name!r})"


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


async def read_secret(ref: str) -> str:
    """The exchanger's secret resolver: the controller's only references are ``file:`` ones
    (``client.secret_file``), read by the one credential reader."""
    path = ref.removeprefix("file:")
    return await asyncio.to_thread(read_credential, path, "client secret", error=SecretNotFound)


@dataclass
class _CatalogCopy:
    targets: dict[str, Target]
    fetched_at: float


@dataclass(frozen=True, slots=True)
class _Route:
    """How an entry's https calls go: the HTTP client (its TLS trust) and the exchanger (and
    trust store) over it."""

    http: httpx.AsyncClient
    exchanger: Exchanger
    #: the TLS context of ``http`` (None: the shared client's)
    tls: ssl.SSLContext | None = None


class Acquirer:
    """Fetches tokens for entries; caches discovery and catalogs.

    Entries without ``ca_file`` share the client given; an entry with ``ca_file`` is served by
    a client of its own trusting that CA besides the system's (``oauth.http.tls_verify``, the
    one TLS trust builder), for every call it makes: discovery, catalog, JWKS, token endpoint.
    The CA file is looked at before each attempt: replaced in place (a rotated Secret), it
    gets a new client; made unusable, the attempt fails with cause ``config``."""

    def __init__(self, http: httpx.AsyncClient, *, clock: Any = time.time) -> None:
        self.http = http
        self.clock = clock
        #: one route per (``allow_http``, ``ca_file``)
        self._routes: dict[tuple[bool, Path | None], _Route] = {}
        #: clients of routes replaced by a rotated CA (closed at the end: a call may still use one)
        self._retired: list[httpx.AsyncClient] = []
        self._catalogs: dict[str, _CatalogCopy] = {}

    def _route(self, spec: EntrySpec) -> _Route:
        key = (spec.allow_http, spec.ca_file)
        route = self._routes.get(key)
        tls: ssl.SSLContext | None = None
        if spec.ca_file is not None:
            try:
                verify = tls_verify((spec.ca_file,))
            except TrustError as exc:
                raise ConfigError(f"ca_file: {exc.message}", cluster=spec.target,
                                  hint="point ca_file at the CA certificate (PEM)") from None
            assert isinstance(verify, ssl.SSLContext)
            tls = verify
        if route is not None and route.tls is tls:
            return route
        http = self.http
        if tls is not None:
            http = make_async_client(timeout=TIMEOUT, verify=tls)
            if route is not None:
                self._retired.append(route.http)
        trust = TrustStore(http, timeout=TIMEOUT, allow_http=spec.allow_http)
        route = _Route(http, Exchanger(http, trust, read_secret, timeout=TIMEOUT, retry_after_max=None), tls)
        self._routes[key] = route
        return route

    # -- the target ----------------------------------------------------------------------------
    async def _catalog(self, http: httpx.AsyncClient, url: str, *, force: bool) -> dict[str, Target]:
        now = self.clock()
        copy = self._catalogs.get(url)
        if copy is not None and not force and now - copy.fetched_at < CATALOG_TTL:
            return copy.targets
        try:
            catalog, _ = await fetch_catalog(http, url)
            targets = targets_from_catalog(catalog)
        except OAuthError:
            if copy is not None:  # the catalog rarely changes: serve the last good copy
                return copy.targets
            raise
        self._catalogs[url] = _CatalogCopy(targets, now)
        return targets

    async def resolve(self, spec: EntrySpec, route: _Route) -> Target:
        """The target of ``spec``, looked up over ``route``; raises an ``IdentityError``."""
        try:
            return await self._resolve(spec, route)
        except OAuthError as exc:
            raise translate(exc, where=f"{spec.target}: ", doing="cannot look the cluster up: ",
                            endpoint=spec.issuer, cluster=spec.target) from exc

    async def _resolve(self, spec: EntrySpec, route: _Route) -> Target:
        meta = await route.exchanger.trust.metadata(spec.issuer)
        catalog_url = meta.catalog_endpoint
        if catalog_url is None:
            if not meta.token_endpoint:
                raise DiscoveryError("its discovery document names no token_endpoint", endpoint=spec.issuer)
            return Target(spec.target, spec.issuer, meta.token_endpoint, spec.target,
                          environment=spec.environment)
        targets = await self._catalog(route.http, catalog_url, force=False)
        target = targets.get(spec.target)
        copy = self._catalogs.get(catalog_url)
        if target is None and copy is not None and self.clock() - copy.fetched_at >= CATALOG_REFETCH:
            targets = await self._catalog(route.http, catalog_url, force=True)
            target = targets.get(spec.target)
        if target is None:
            raise UnknownCluster(f"the catalog of {spec.issuer} has no cluster {spec.target!r}; "
                                 "check 'targets'", cluster=spec.target)
        if spec.environment is not None and target.environment not in (None, spec.environment):
            raise ConfigError(f"cluster {spec.target!r} is in environment {target.environment!r}, "
                              f"not {spec.environment!r}", cluster=spec.target)
        return target

    # -- the subject ---------------------------------------------------------------------------
    async def subject_token(self, spec: EntrySpec) -> SubjectToken:
        """The current subject token: read from its file (or a fresh JWT-SVID from the Workload
        API), checked for shape and expiry. Raises ``InvalidSubjectToken``."""
        subject = spec.subject
        assert subject is not None
        token_type = token_type_uri(subject.token_type)
        if subject.workload_api is None:
            assert subject.file is not None
            text = await read_subject_file(subject.file, f"{subject.kind} subject token")
            return subject_from_jwt(text, token_type=token_type, where=f"in {subject.file}")
        assert subject.audience is not None
        svid = await fetch_jwt_svid(subject.workload_api, subject.audience)
        return subject_from_jwt(svid, token_type=token_type, where=f"from the Workload API at {subject.workload_api}")

    # -- the one call --------------------------------------------------------------------------
    async def acquire(self, spec: EntrySpec) -> Acquired:
        """A fresh, verified token for ``spec``. Raises an ``IdentityError`` (``cause_of``)."""
        route = self._route(spec)  # once per attempt: it looks at the CA file
        exchanger = route.exchanger
        target = await self.resolve(spec, route)
        cluster = target.cluster(spec)
        environment = target.environment or ""
        if spec.subject is None:
            auth = await exchanger.client_auth(cluster)
            token, verified = await exchanger.workload(
                cluster, auth, service=None, scopes=spec.scopes, audience=target.audience,
                environment=environment, trust_domain=target.trust_domain)
        else:
            subject = await self.subject_token(spec)
            request = exchanger.request_for(
                cluster, subject, service=spec.service, scopes=spec.scopes, audience=target.audience,
                environment=environment, trust_domain=target.trust_domain)
            token, verified = await exchanger.run(cluster, request, audience=target.audience)
        return self._acquired(token, verified, target)

    def _acquired(self, token: str, verified: VerifiedToken, target: Target) -> Acquired:
        claims = verified.claims
        now = self.clock()
        expires_at = float(claims["exp"])
        if expires_at <= now:  # within the verifier's clock skew, but no use to a workload
            raise UntrustedToken(f"{target.name}: the token issued by {target.issuer} is already "
                                 "expired; not written", cluster=target.name, reason="expired")
        iat = claims.get("iat")
        issued_at = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else now
        jti, sub, scope = claims.get("jti"), claims.get("sub"), claims.get("scope")
        meta = TokenMeta(jti=jti if isinstance(jti, str) else None, issued_at=min(issued_at, now),
                         expires_at=expires_at, fingerprint=fingerprint(token),
                         subject=sub if isinstance(sub, str) else None,
                         scope=scope if isinstance(scope, str) else None)
        return Acquired(token, meta, target)

    async def aclose(self) -> None:
        own = [route.http for route in self._routes.values() if route.http is not self.http]
        self._routes.clear()
        for client in [*own, *self._retired, self.http]:
            await client.aclose()
        self._retired.clear()


__all__ = ["Acquired", "Acquirer", "Target", "cause_of", "failure_message", "read_secret",
           "targets_from_catalog"]
