"""The one translation boundary: ``oauth`` and ``jose`` errors become identity errors here.

Every use case that talks to an identity provider hands what went wrong to this module, and
front ends match the identity classes it returns (never class names as strings, never the
text of a message):

    OAuthErrorResponse   the IdP said no          → the use case's refusal (``ExchangeDenied``
                                                    for an exchange, ``LoginFailed`` for a sign-in)
    RateLimited          429                      → ``IdpUnavailable`` (error ``rate_limited``)
    DiscoveryError       metadata or keys wrong   → ``IdpUnavailable`` (error ``discovery``)
    TransportError       no answer                → ``IdpUnavailable`` (error ``network``)
    other OAuthError     an answer off protocol   → ``IdpUnavailable`` (error ``protocol``)
    ExchangeConfigError  our request is wrong     → ``ConfigError``
    JoseError            what came back does not verify → ``UntrustedToken``
    TimeoutError         no answer in time        → ``IdpUnavailable`` (error ``timeout``)

Every ``IdpUnavailable`` carries the same details: ``error`` (the kind above; ``auth`` for an
error response the use case gave no wording of its own), ``status`` (the HTTP status, when the IdP answered), ``endpoint`` and
``retryAfter`` (seconds, when the IdP said). The controller's ``cause`` label and the
daemon's ``data`` are read from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..jose import JoseError
from ..oauth.exceptions import (
    DiscoveryError,
    ExchangeConfigError,
    OAuthError,
    OAuthErrorResponse,
    RateLimited,
)
from ..oauth.http import safe_url
from .exceptions import ConfigError, ExchangeDenied, IdentityError, IdpUnavailable, UntrustedToken
from .models import ClusterInfo

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


#: what to do when the identity provider itself did not say
DEFAULT_HINTS = {
    "network": "check that the identity provider is up and reachable; retry later",
    "rate_limited": "wait and retry",
    "discovery": "check the issuer URL, and that it publishes its metadata and keys",
    "protocol": "the identity provider answered garbage; retry later or tell its operators",
}


def answer_details(exc: OAuthError) -> dict[str, Any]:
    """The details of an ``IdpUnavailable`` made from ``exc`` (``None`` ones are dropped)."""
    status = 429 if isinstance(exc, RateLimited) else getattr(exc, "status", None)
    return {"endpoint": exc.endpoint, "error": exc.kind, "status": status if isinstance(status, int) else None,
            "retryAfter": exc.retry_after if isinstance(exc, RateLimited) else None}


def translate(exc: BaseException, *, where: str,
              refused: Callable[[OAuthErrorResponse], IdentityError] | None = None, untrusted: Callable[[JoseError], IdentityError] | None = None, doing: str = "",
              endpoint: str | None = None, hint: str | None = None, **details: Any) -> IdentityError:
    """The identity error for ``exc`` (see the module docstring). Messages read
    ``<where><doing><endpoint>: <what happened>`` (``where`` is ``"<cluster>: "`` or
    ``"<environment>: "``, ``endpoint`` the URL asked when the error names none); ``refused``
    words the IdP's no for this use case (without it, a no is an IdP that gave no usable
    answer), ``untrusted`` a token that does not verify, ``hint`` what to do when the IdP gave
    no hint of its own.
    Anything else is re-raised: a bug, not a failure of the IdP."""
    if isinstance(exc, IdentityError):
        return exc
    if isinstance(exc, ExchangeConfigError):
        return ConfigError(f"{where}{exc.message}", hint=hint, **details)
    if isinstance(exc, OAuthErrorResponse) and refused is not None:
        return refused(exc)
    if isinstance(exc, OAuthError):
        after = ""
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            after = f"; retry after {exc.retry_after:g}s"
        answered = answer_details(exc)
        answered["endpoint"] = answered["endpoint"] or endpoint
        return IdpUnavailable(f"{where}{doing}{_reason(exc, endpoint)}{after}",
                              hint=exc.hint or hint or DEFAULT_HINTS.get(exc.kind), **answered, **details)
    if isinstance(exc, JoseError) and untrusted is not None:
        return untrusted(exc)
    if isinstance(exc, TimeoutError):
        late = f"{endpoint} did not answer in time" if endpoint else "no answer in time"
        return IdpUnavailable(f"{where}{doing}{late}", hint="retry later", endpoint=endpoint, error="timeout",
                              **details)
    raise exc


def _reason(exc: OAuthError, endpoint: str | None) -> str:
    """``<endpoint>: <what happened>``, naming the endpoint once (messages often name it already)."""
    head, sep, _ = exc.message.partition(": ")
    url = exc.endpoint or endpoint
    if (sep and head.startswith(("http://", "https://"))) or not url or safe_url(url) in exc.message:
        return exc.message
    return f"{safe_url(url)}: {exc.message}"


# -- one exchange for one cluster ------------------------------------------------------------

def exchange_error(exc: BaseException, cluster: ClusterInfo, endpoint: str) -> IdentityError:
    """An error of one exchange at ``endpoint`` as the identity error a person can act on."""
    where = f"{cluster.name}: "

    def refused(answer: OAuthErrorResponse) -> IdentityError:
        desc = f" ({answer.description})" if answer.description else ""
        return ExchangeDenied(
            f"{where}the token endpoint {endpoint} refused the exchange: {answer.error}{desc}",
            hint=hint_for(answer, cluster), cluster=cluster.name, endpoint=endpoint, error=answer.error,
            errorDescription=answer.description, status=answer.status)

    def untrusted(bad: JoseError) -> IdentityError:
        return UntrustedToken(
            f"{where}the token from {endpoint} failed verification ({bad.reason}): {bad.message}",
            hint="the identity provider issued a token we must not use; check the cluster's "
            "expected_issuer and audience, or report it to the IdP's operators",
            cluster=cluster.name, endpoint=endpoint, reason=bad.reason)

    if isinstance(exc, ExchangeConfigError):
        return translate(exc, where=where, refused=refused, hint=f"fix the token_exchange block of cluster "
                         f"{cluster.name}", cluster=cluster.name)
    if isinstance(exc, DiscoveryError):
        return translate(exc, where=where, refused=refused, doing="cannot get the metadata or keys of "
                         f"issuer {cluster.exchange.expected_issuer or cluster.issuer}: ",
                         hint="check the cluster's issuer / jwks settings", cluster=cluster.name)
    return translate(exc, where=where, refused=refused, untrusted=untrusted, doing="the token endpoint ",
                     endpoint=endpoint, cluster=cluster.name)


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


__all__ = ["DEFAULT_HINTS", "ERROR_HINTS", "answer_details", "dex_hint", "exchange_error", "hint_for", "translate"]
