"""One exchange for one cluster: build the request for the cluster's IdP flavour, post it,
verify what comes back, and say clearly what went wrong when something does.

What goes wrong becomes an identity error through the one translation boundary
(``translation.exchange_error``), naming the cluster, the endpoint, the RFC error code and
description, and what to do next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from ..jose import ACCESS_TOKEN_TYP, JoseError, MalformedToken, VerifiedToken, numeric_date, parse
from ..oauth.client_credentials import client_credentials
from ..oauth.exceptions import (
    OAuthError,
    RateLimited,
)
from ..oauth.exchange import ExchangeConfigError, ExchangeRequest, exchange
from ..oauth.tokens import (
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_ID,
    TOKEN_TYPE_JWT,
    ClientAuth,
    token_type_uri,
)
from .catalog import service_spiffe_id
from .exceptions import (
    ConfigError,
    IdentityError,
    InvalidSubjectToken,
    SecretNotFound,
)
from .models import ClusterInfo, Failure
from .translation import exchange_error
from .trust import TrustStore

log = logging.getLogger("microstax.identity")

@dataclass(frozen=True, slots=True)
class SubjectToken:
    """The token we exchange, and who it says we are."""

    token: str = field(repr=False)
    token_type: str
    identity: str
    subject: str
    issuer: str
    id_token: str | None = field(default=None, repr=False)
    #: a workload signed in with client credentials on our platform: each cluster's token is
    #: asked for with the client's own credentials (no session token to exchange)
    client: ClientAuth | None = field(default=None, repr=False)


def subject_from_jwt(token: str, *, token_type: str = TOKEN_TYPE_JWT, where: str) -> SubjectToken:
    """Read who a JWT subject token names (no verification: the IdP verifies it)."""
    try:
        parsed = parse(token)
    except MalformedToken as exc:
        raise InvalidSubjectToken(f"the subject token {where} is not a JWT: {exc.message}") from exc
    claims = parsed.claims
    exp = numeric_date(claims.get("exp"))
    if exp is not None and exp < time.time():
        raise InvalidSubjectToken(f"the subject token {where} expired {int(time.time() - exp)}s ago",
                                  hint="renew it (kubelet and SPIRE rotate these files in place)")
    sub = claims.get("sub") if isinstance(claims.get("sub"), str) else "unknown"
    iss = claims.get("iss") if isinstance(claims.get("iss"), str) else "unknown"
    return SubjectToken(token, token_type, f"{iss}#{sub}", str(sub), str(iss))


def failure_of(exc: Exception) -> Failure:
    """The ``ClusterState.token.failure`` for an error."""
    if isinstance(exc, IdentityError):
        kind = exc.failure_kind if exc.failure_kind in ("network", "auth", "config") else "network"
        return Failure(kind=kind, message=exc.message, code=exc.code,  # type: ignore[arg-type]
                       retry_after=exc.details.get("retryAfter"), endpoint=exc.details.get("endpoint"))
    return Failure(kind="network", message=f"unexpected {type(exc).__name__}", code="INTERNAL")


def _is_jwt(token: str) -> bool:
    try:
        parse(token)
    except MalformedToken:
        return False
    return True


#: an exchanged token may outlive its subject token by this much before we warn
OUTLIVES_SLACK_S = 60


def outlives(cluster: ClusterInfo, subject_token: str, claims: dict[str, object]) -> float | None:
    """Warn when an exchanged token lives longer than the subject token it was exchanged for
    (Dex's default: 24 h, whatever the subject's lifetime): signing out does not end it.
    Returns the extra seconds (``None`` when it does not outlive the subject). Not for our
    platform: its session access tokens are short and refreshed routinely, so a federated token
    often outlives the one it came from by minutes, within lifetimes the platform's policy bounds."""
    if cluster.exchange.flavour == "microstax":
        return None
    try:
        subject_exp = numeric_date(parse(subject_token).claims.get("exp"))
    except MalformedToken:
        return None
    exp = numeric_date(claims.get("exp"))
    if subject_exp is None or exp is None or exp <= subject_exp + OUTLIVES_SLACK_S:
        return None
    extra = exp - subject_exp
    where = ("set expiry.idTokens in Dex's config to at most the subject's lifetime"
             if cluster.exchange.flavour == "dex" else "ask the IdP's operators for a shorter lifetime")
    log.warning("%s: the exchanged token outlives the subject token it was exchanged for by %s "
                "(valid until %s): signing out will not end it; %s",
                cluster.name, _duration(extra), time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(exp)), where)
    return extra


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 60}m {s % 60}s"


SecretResolver = Callable[[str], Awaitable[str | None]]


class Exchanger:
    """Performs and verifies exchanges; stateless apart from the shared HTTP client and keys.

    Used by every front end: the service's federate (``identity.federate``) and the identity
    controller (``controller.acquire``). ``retry_after_max``: a 429 whose ``Retry-After`` is at
    most this many seconds is retried once inside the call; ``None`` never waits (the caller
    schedules its own retries, as the controller does)."""

    def __init__(self, http: httpx.AsyncClient, trust: TrustStore, resolve_secret: SecretResolver, *,
                 timeout: float, retry_after_max: float | None) -> None:
        self.http = http
        self.trust = trust
        self.resolve_secret = resolve_secret
        self.timeout = timeout
        self.retry_after_max = retry_after_max

    async def client_auth(self, cluster: ClusterInfo) -> ClientAuth:
        ex = cluster.exchange
        client_id = ex.client_id or "microstax-cli"
        if not ex.client_secret_ref:
            return ClientAuth(client_id, None, "none")
        secret = await self.resolve_secret(ex.client_secret_ref)
        if secret is None:
            raise SecretNotFound(
                f"{cluster.name}: the client secret {ex.client_secret_ref!r} is not set",
                hint=f"store it with 'microstax config secret set "
                f"{ex.client_secret_ref.split(':', 1)[1]}' (keyring) or create the file",
                cluster=cluster.name)
        return ClientAuth(client_id, secret, ex.auth_method if ex.auth_method != "none" else "client_secret_basic")

    def request_for(self, cluster: ClusterInfo, subject: SubjectToken, *, service: str | None,
                    scopes: tuple[str, ...], audience: str | None, environment: str,
                    trust_domain: str | None) -> ExchangeRequest:
        """The RFC 8693 request for ``cluster``'s IdP flavour. For our platform, ``service`` is
        asked for as its SPIFFE ID (``resource``); ``None`` asks for none, and the platform
        keeps the subject's own identity."""
        ex = cluster.exchange
        if ex.flavour == "dex" and not ex.subject_token_type:
            # Dex's OIDC connector verifies an ``id_token`` subject as a JWT of its upstream
            # (signature, iss, exp; not aud); as ``access_token`` it needs the upstream's
            # userinfo endpoint, which the platform has none of (Dex: access_denied).
            subject_type = TOKEN_TYPE_ID
        else:
            subject_type = token_type_uri(ex.subject_token_type, subject.token_type)
        subject_token = subject.token
        if subject_type == TOKEN_TYPE_ID:
            if subject.id_token is not None:
                subject_token = subject.id_token
            elif ex.flavour != "dex" or not _is_jwt(subject.token):
                raise ConfigError(f"{cluster.name}: the exchange needs an ID token as subject token, "
                                  "but the session has none", hint="sign in again with the 'openid' scope")
            # else: the session's (or workload's) token is a JWT of the same issuer: Dex checks it
            # exactly as it checks an ID token
        resource = ex.resource
        if ex.flavour == "microstax" and not resource and service is not None:
            if not trust_domain:
                raise ConfigError(f"{cluster.name}: the environment's trust domain is unknown "
                                  "(neither the catalog nor the config names it)",
                                  hint=f"set trust_domain in [environments.{environment}]")
            resource = (service_spiffe_id(trust_domain, environment, service),)
        return ExchangeRequest(
            subject_token=subject_token,
            subject_token_type=subject_type,
            requested_token_type=ex.requested_token_type,
            audience=(audience,) if audience else ex.audience,
            resource=resource,
            scope=scopes or ex.scopes,
            connector_id=ex.connector_id,
        )

    async def token_endpoint(self, cluster: ClusterInfo) -> str:
        if cluster.exchange.token_endpoint:
            return cluster.exchange.token_endpoint
        meta = await self.trust.metadata(cluster.exchange.expected_issuer or cluster.issuer)
        if not meta.token_endpoint:
            raise ConfigError(f"{cluster.name}: the issuer publishes no token endpoint; set "
                              "token_exchange.token_endpoint")
        return meta.token_endpoint

    async def workload(self, cluster: ClusterInfo, auth: ClientAuth, *, service: str | None,
                       scopes: tuple[str, ...], audience: str, environment: str,
                       trust_domain: str | None) -> tuple[str, VerifiedToken]:
        """A workload's token for ``cluster``: client credentials at the cluster's endpoint, then,
        when another service identity is asked for, an exchange of that token (delegation).
        ``service`` ``None``: the client's own identity (no delegation)."""
        endpoint = cluster.exchange.token_endpoint or cluster.token_endpoint
        try:
            endpoint = await self.token_endpoint(cluster)
            issuer = cluster.exchange.expected_issuer or cluster.issuer
            typ = (ACCESS_TOKEN_TYP,) if cluster.exchange.flavour == "microstax" else None
            response = await client_credentials(self.http, endpoint, auth, scope=scopes or cluster.exchange.scopes,
                                                audience=(audience,), timeout=self.timeout)
            verified = await self.trust.verify(response.access_token, issuer=issuer, audience=audience, typ=typ)
            sub = verified.claims.get("sub")
            if (cluster.exchange.flavour != "microstax" or service is None or not isinstance(sub, str)
                    or sub.endswith(f"/svc/{service}")):
                return response.access_token, verified
            subject = SubjectToken(response.access_token, TOKEN_TYPE_ACCESS, "", sub, issuer)
            request = self.request_for(cluster, subject, service=service, scopes=scopes, audience=audience,
                                       environment=environment, trust_domain=trust_domain)
            response = await exchange(self.http, endpoint, request, flavour="microstax", auth=auth,
                                      timeout=self.timeout, what=f"the token endpoint of {cluster.name}")
            verified = await self.trust.verify(response.access_token, issuer=issuer, audience=audience, typ=typ)
            return response.access_token, verified
        except (OAuthError, JoseError, ExchangeConfigError, TimeoutError) as exc:
            raise exchange_error(exc, cluster, endpoint) from exc

    async def run(self, cluster: ClusterInfo, request: ExchangeRequest, *, audience: str) -> tuple[str, VerifiedToken]:
        """Exchange and verify; raises an ``IdentityError`` naming the cluster and the cause."""
        endpoint = cluster.exchange.token_endpoint or cluster.token_endpoint
        try:
            endpoint = await self.token_endpoint(cluster)
            auth = await self.client_auth(cluster)
            what = f"the token endpoint of {cluster.name}"
            try:
                response = await exchange(self.http, endpoint, request, flavour=cluster.exchange.flavour,
                                          auth=auth, timeout=self.timeout, what=what)
            except RateLimited as exc:
                if (exc.retry_after is None or self.retry_after_max is None
                        or exc.retry_after > self.retry_after_max):
                    raise
                log.info("%s: rate limited, retrying once after %.1fs", cluster.name, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
                response = await exchange(self.http, endpoint, request, flavour=cluster.exchange.flavour,
                                          auth=auth, timeout=self.timeout, what=what)
            token = response.access_token
            issuer = cluster.exchange.expected_issuer or cluster.issuer
            typ = (ACCESS_TOKEN_TYP,) if cluster.exchange.flavour == "microstax" else None
            verified = await self.trust.verify(token, issuer=issuer, audience=audience, typ=typ)
            outlives(cluster, request.subject_token, verified.claims)
            return token, verified
        except (OAuthError, JoseError, ExchangeConfigError, TimeoutError) as exc:
            raise exchange_error(exc, cluster, endpoint) from exc


__all__ = ["Exchanger", "SubjectToken", "failure_of", "outlives", "subject_from_jwt"]
