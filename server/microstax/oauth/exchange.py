"""OAuth 2.0 Token Exchange (RFC 8693), with the request each identity provider expects.

Flavours:

``microstax``  our platform (docs/platform-api.md): ``audience`` = target cluster, ``resource``
               = the SPIFFE ID of the service, ``connector_id`` for per-cluster issuers; public
               client ``microstax-cli`` unless client credentials are configured.
``dex``        Dex's token exchange: ``connector_id`` is required (the connector that trusts
               the upstream issuer), ``scope`` defaults to ``openid profile email groups``
               plus any ``audience:server:client_id:…`` cross-client scopes, the subject
               token may be an ID token, ``requested_token_type`` may be ``id_token``.
``keycloak``   Keycloak standard token exchange (v2): the subject token must be an access
               token, ``audience`` only narrows (several allowed), ``resource`` is not
               supported, the requester is a confidential client.
``rfc8693``    the RFC as written, no extras.

``build_form`` is pure (unit-tested per flavour); ``exchange`` posts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import httpx

from .exceptions import ExchangeConfigError
from .tokens import (
    GRANT_TOKEN_EXCHANGE,
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_ID,
    ClientAuth,
    TokenResponse,
    request_token,
    token_type_uri,
)

Flavour = Literal["microstax", "dex", "keycloak", "rfc8693"]
FLAVOURS: tuple[Flavour, ...] = ("microstax", "dex", "keycloak", "rfc8693")
DEX_DEFAULT_SCOPES = ("openid", "profile", "email", "groups")


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """The parameters of one token exchange; ``subject_token`` is kept out of the repr."""

    subject_token: str = field(repr=False)
    subject_token_type: str = TOKEN_TYPE_ACCESS
    requested_token_type: str | None = None
    audience: tuple[str, ...] = ()
    resource: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    connector_id: str | None = None
    actor_token: str | None = field(default=None, repr=False)
    actor_token_type: str | None = None


def build_form(request: ExchangeRequest, flavour: Flavour) -> list[tuple[str, str]]:
    """The form fields (without client authentication) for ``flavour``."""
    if flavour not in FLAVOURS:
        raise ExchangeConfigError(f"unknown identity provider flavour {flavour!r}")
    subject_type = token_type_uri(request.subject_token_type)
    requested = token_type_uri(request.requested_token_type) if request.requested_token_type else None
    scope = list(request.scope)
    resource = list(request.resource)
    if flavour == "keycloak":
        if subject_type != TOKEN_TYPE_ACCESS:
            raise ExchangeConfigError(
                "Keycloak standard token exchange only accepts an access token as the subject "
                "token (subject_token_type access_token)")
        if resource:
            raise ExchangeConfigError("Keycloak standard token exchange does not support 'resource'; "
                                      "use 'audience' to narrow the token")
        if request.connector_id:
            raise ExchangeConfigError("Keycloak does not take a connector id")
    if flavour == "dex":
        if not request.connector_id:
            raise ExchangeConfigError("Dex token exchange needs a connector id (connector_id: the "
                                      "connector on the remote Dex that trusts the upstream issuer)")
        if subject_type not in (TOKEN_TYPE_ACCESS, TOKEN_TYPE_ID):
            raise ExchangeConfigError("Dex exchanges access tokens or ID tokens only")
        if requested is not None and requested not in (TOKEN_TYPE_ACCESS, TOKEN_TYPE_ID):
            raise ExchangeConfigError("Dex issues access tokens or ID tokens only")
        if not scope:
            scope = list(DEX_DEFAULT_SCOPES)
        # Dex puts cross-client audiences in scopes; explicit audiences become such scopes.
        for aud in request.audience:
            cross = f"audience:server:client_id:{aud}"
            if cross not in scope:
                scope.append(cross)
    form: list[tuple[str, str]] = [
        ("grant_type", GRANT_TOKEN_EXCHANGE),
        ("subject_token", request.subject_token),
        ("subject_token_type", subject_type),
    ]
    if requested is not None:
        form.append(("requested_token_type", requested))
    elif flavour in ("microstax", "keycloak"):
        form.append(("requested_token_type", TOKEN_TYPE_ACCESS))
    if flavour != "dex":
        form.extend(("audience", aud) for aud in request.audience)
    form.extend(("resource", res) for res in resource)
    if scope:
        form.append(("scope", " ".join(dict.fromkeys(scope))))
    if request.connector_id and flavour in ("microstax", "dex", "rfc8693"):
        form.append(("connector_id", request.connector_id))
    if request.actor_token:
        if not request.actor_token_type:
            raise ExchangeConfigError("an actor token needs its type (RFC 8693 §2.1)")
        form.append(("actor_token", request.actor_token))
        form.append(("actor_token_type", token_type_uri(request.actor_token_type)))
    return form


async def exchange(
    client: httpx.AsyncClient,
    endpoint: str,
    request: ExchangeRequest,
    *,
    flavour: Flavour = "microstax",
    auth: ClientAuth | None = None,
    timeout: float | httpx.Timeout | None = None,
    what: str = "the token endpoint",
) -> TokenResponse:
    """Exchange ``request.subject_token`` at ``endpoint``. Raises ``OAuthError`` subclasses
    (``ExchangeConfigError`` before sending when the request cannot be made)."""
    if flavour == "keycloak" and (auth is None or auth.client_secret is None):
        raise ExchangeConfigError("Keycloak token exchange needs a confidential client "
                                  "(client_id and a client secret reference)")
    form = build_form(request, flavour)
    response = await request_token(client, endpoint, form, auth=auth, what=what, timeout=timeout,
                                   require_token_type=flavour != "dex")
    return response

