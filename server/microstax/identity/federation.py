"""One exchange for one cluster: build the request for the cluster's IdP flavour, post it,
verify what comes back, and say clearly what went wrong when something does.

Translation boundary: ``oauth`` errors and ``jose`` verification errors become identity errors
here (``ExchangeDenied``, ``IdpUnavailable``, ``UntrustedToken``, ``ConfigError``), each naming
the cluster, the endpoint, the RFC error code and description, and what to do next.
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
    DiscoveryError,
    OAuthError,
    OAuthErrorResponse,
    RateLimited,
    TransportError,
)
from ..oauth.exchange import ExchangeConfigError, ExchangeRequest, exchange
from ..oauth.http import safe_url
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
    ExchangeDenied,
    IdentityError,
    IdpUnavailable,
    InvalidSubjectToken,
    SecretNotFound,
    UntrustedToken,
)
from .models import ClusterInfo, Failure
from .trust import TrustStore

log = logging.getLogger("microstax.identity")

#: what to do about each RFC 6749 / 8693 error code
ERROR_HINTS = {
    "invalid_target": "the cluster, audience or service is outside what your policy allows; check "
    "--target/--service/--audience, or ask the platform team for access",
    "invalid_scope": "ask for fewer scopes (drop or narrow --scope), or have them granted",
    "invalid_grant": "the identity provider did not accept the subject token (your session, or "
    "the --subject-token-file) for the reason above; sign in again ('microstax login'), refresh "
    "the file, or ask the platform team to allow this client to redeem it",
    "unauthorized_client": "this client may not exchange tokens here; the IdP admin must allow "
    "token exchange for it (Keycloak: enable 'Standard token exchange' on the client)",
    "invalid_client": "client authentication failed; check client_id and the client_secret "
    "reference (keyring:NAME) of the cluster's token_exchange block",
    "access_denied": "the identity provider's policy denies this exchange",
    "invalid_request": "the identity provider rejected the request; check the cluster's "
    "token_exchange settings (audience, token types, connector id)",
    "unsupported_grant_type": "token exchange is not enabled at this identity provider",
    "request_not_supported": "the identity provider does not support this request (token types?)",
}


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


def translate(exc: Exception, cluster: ClusterInfo, endpoint: str) -> IdentityError:
    """An ``oauth``/``jose`` error of one exchange as the identity error a person can act on."""
    where = f"{cluster.name}: "
    if isinstance(exc, IdentityError):
        return exc
    if isinstance(exc, ExchangeConfigError):
        return ConfigError(f"{where}{exc}", hint=f"fix the token_exchange block of cluster {cluster.name}",
                           cluster=cluster.name)
    if isinstance(exc, OAuthErrorResponse):
        desc = f" ({exc.description})" if exc.description else ""
        return ExchangeDenied(
            f"{where}the token endpoint {endpoint} refused the exchange: {exc.error}{desc}",
            hint=hint_for(exc, cluster),
            cluster=cluster.name, endpoint=endpoint, error=exc.error,
            errorDescription=exc.description, status=exc.status)
    if isinstance(exc, RateLimited):
        after = f"; retry after {exc.retry_after:g}s" if exc.retry_after is not None else ""
        return IdpUnavailable(f"{where}the token endpoint {endpoint} is rate limiting (HTTP 429{after})",
                              hint="wait and retry", cluster=cluster.name, endpoint=endpoint,
                              retryAfter=exc.retry_after, error="rate_limited")
    if isinstance(exc, DiscoveryError):
        return IdpUnavailable(f"{where}cannot get the keys of issuer {cluster.exchange.expected_issuer}: "
                              f"{exc.message}", hint=exc.hint or "check the cluster's issuer / jwks settings",
                              cluster=cluster.name, endpoint=exc.endpoint, error="discovery")
    if isinstance(exc, TransportError):
        return IdpUnavailable(f"{where}the token endpoint {_reason(exc, endpoint)}",
                              hint="check that the cluster's identity provider is up and reachable; retry later",
                              cluster=cluster.name, endpoint=endpoint, error="network")
    if isinstance(exc, OAuthError):
        return IdpUnavailable(f"{where}the token endpoint {_reason(exc, endpoint)}",
                              hint=exc.hint or "the identity provider answered garbage; retry later or "
                              "tell its operators", cluster=cluster.name, endpoint=endpoint, error=exc.kind)
    if isinstance(exc, JoseError):
        return UntrustedToken(
            f"{where}the token from {endpoint} failed verification ({exc.reason}): {exc.message}",
            hint="the identity provider issued a token we must not use; check the cluster's "
            "expected_issuer and audience, or report it to the IdP's operators",
            cluster=cluster.name, endpoint=endpoint, reason=exc.reason)
    if isinstance(exc, TimeoutError):
        return IdpUnavailable(f"{where}the exchange at {endpoint} did not finish in time",
                              hint="retry later", cluster=cluster.name, endpoint=endpoint, error="timeout")
    raise exc


def hint_for(exc: OAuthErrorResponse, cluster: ClusterInfo) -> str:
    """What to do about an error response, as precise as the IdP's answer allows."""
    ex = cluster.exchange
    client = ex.client_id or "microstax-cli"
    desc = (exc.description or "").lower()
    if ex.flavour == "dex" and exc.error != "invalid_client":
        hint = dex_hint(exc, cluster)
        if hint is not None:
            return hint
    if exc.status == 401 or (exc.error in ("invalid_client", "unauthorized_client") and "credentials" in desc):
        where = f"the secret behind {ex.client_secret_ref}" if ex.client_secret_ref else "its client secret reference"
        return (f"the identity provider rejected the credentials of client {client}: check the client id "
                f"and {where} (replace it with 'microstax config secret set NAME')")
    if ex.flavour == "keycloak":
        if "standard token exchange is not enabled" in desc:
            return (f"enable 'Standard token exchange' for client {client} in Keycloak (Clients > {client} "
                    "> Capability config), or configure a client that has it")
        if "requested audience not available" in desc:
            return (f"client {client} may not issue tokens for this audience: add an Audience mapper for it "
                    f"to the client's dedicated scope in Keycloak, or ask for another --audience")
        if "audience not found" in desc:
            return "Keycloak has no client named like the requested audience; check the cluster's audience"
        if "not within the token audience" in desc:
            return (f"your session token was not issued for {client}: sign in with a client whose tokens "
                    f"carry {client} in 'aud' (an Audience mapper), or exchange with the sign-in client")
        if desc == "invalid token":
            return "your session token was not accepted (expired, or from another realm); sign in again"
    return ERROR_HINTS.get(exc.error, "check the cluster's token_exchange settings")


def _is_jwt(token: str) -> bool:
    try:
        parse(token)
    except MalformedToken:
        return False
    return True


def dex_hint(exc: OAuthErrorResponse, cluster: ClusterInfo) -> str | None:
    """What Dex's terse answers mean (Dex v2.45; it logs the reason, never returns it)."""
    ex = cluster.exchange
    client = ex.client_id or "microstax-cli"
    desc = (exc.description or "").lower()
    log_hint = ("Dex never says why in its answer; Dex's log has the reason (an ERROR line such as "
                "'failed to verify subject token' with the request_id)")
    if exc.error == "access_denied":
        return (f"{log_hint}. Usual causes: connector {ex.connector_id!r} cannot verify the subject token "
                "(its issuer, rootCAs or keys), the subject token expired, or subject_token_type is "
                "access_token for an OIDC connector without userinfo (use id_token, the default)")
    if "connector does not exist" in desc:
        return (f"connector_id {ex.connector_id!r} is not a connector of this Dex: set the cluster's "
                "token_exchange.connector_id to the id of the connector that trusts your issuer")
    if exc.error == "server_error":
        audiences = ", ".join(ex.audience) or cluster.audience
        return (f"{log_hint}. Often a cross-client audience: Dex ignores 'audience' and turns the "
                f"cluster's audience ({audiences}) into scope audience:server:client_id:…; that Dex "
                f"client must list {client} in trustedPeers, or set the cluster's audience to {client}")
    return None


def _reason(exc: OAuthError, endpoint: str) -> str:
    """``<endpoint>: <what happened>`` whether or not the message already starts with a URL."""
    message = exc.message
    head, sep, rest = message.partition(": ")
    if sep and head.startswith(("http://", "https://")):
        return f"{head}: {rest}"
    return f"{safe_url(endpoint)}: {message}"


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
    """Performs and verifies exchanges; stateless apart from the shared HTTP client and keys."""

    def __init__(self, http: httpx.AsyncClient, trust: TrustStore, resolve_secret: SecretResolver, *,
                 timeout: float, retry_after_max: float) -> None:
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

    def request_for(self, cluster: ClusterInfo, subject: SubjectToken, *, service: str,
                    scopes: tuple[str, ...], audience: str | None, environment: str,
                    trust_domain: str | None) -> ExchangeRequest:
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
        if ex.flavour == "microstax" and not resource:
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

    async def workload(self, cluster: ClusterInfo, auth: ClientAuth, *, service: str, scopes: tuple[str, ...],
                       audience: str, environment: str, trust_domain: str | None) -> tuple[str, VerifiedToken]:
        """A workload's token for ``cluster``: client credentials at the cluster's endpoint, then,
        when another service identity is asked for, an exchange of that token (delegation)."""
        endpoint = cluster.exchange.token_endpoint or cluster.token_endpoint
        try:
            endpoint = await self.token_endpoint(cluster)
            issuer = cluster.exchange.expected_issuer or cluster.issuer
            typ = (ACCESS_TOKEN_TYP,) if cluster.exchange.flavour == "microstax" else None
            response = await client_credentials(self.http, endpoint, auth, scope=scopes or cluster.exchange.scopes,
                                                audience=(audience,), timeout=self.timeout)
            verified = await self.trust.verify(response.access_token, issuer=issuer, audience=audience, typ=typ)
            sub = verified.claims.get("sub")
            if (cluster.exchange.flavour != "microstax" or not isinstance(sub, str)
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
            raise translate(exc, cluster, endpoint) from exc

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
                if exc.retry_after is None or exc.retry_after > self.retry_after_max:
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
            raise translate(exc, cluster, endpoint) from exc


__all__ = ["Exchanger", "SubjectToken", "dex_hint", "failure_of", "outlives", "subject_from_jwt", "translate"]
