"""Token revocation (RFC 7009) and introspection (RFC 7662) at every issuer.

    POST /oauth/revoke                      POST /oauth/introspect
    POST /clusters/<name>/oauth/revoke      POST /clusters/<name>/oauth/introspect

Who may ask:

* Both authenticate the client exactly as the token endpoint does (``clientauth``; the same
  per-address and per-client rate limits). Revocation accepts a public client by its
  ``client_id`` alone (RFC 7009 §2.1: a public client revokes its own tokens; holding the
  token is the proof). Introspection needs a confidential client (RFC 7662 §2.1): it tells
  what a token grants, and a public ``client_id`` is no credential.
* A client sees and revokes only tokens issued to it: a refresh token's client, an access
  token's ``client_id`` claim. Anything else (unknown, expired, malformed, signed by someone
  else, another client's) is, to the caller, an invalid token: revocation answers 200 and
  changes nothing (RFC 7009 §2.2), introspection answers ``{"active": false}``. Neither says
  why, so neither is an oracle for tokens the caller does not own.

What revocation does:

* a refresh token (central issuer only; they are opaque, never contain a dot): its whole
  family is deleted (every token it rotated from or into), so the session cannot be renewed,
  and the family, which the session's access tokens carry as ``sid``, is recorded as revoked
  until the last of them has expired;
* an access token this issuer signed: its ``jti`` is recorded as revoked until its ``exp``.

``token_type_hint`` is accepted and not needed: the two kinds are told apart by their shape.

Introspection answers ``active: true`` for an access token that verifies with this issuer's
own keys (the hybrid policy, ``typ`` at+jwt, ``exp``/``nbf``), was issued to the caller, and
whose ``jti`` and ``sid`` are not revoked, with its claims and ``token_type``; or for a live,
not yet rotated refresh token of the caller. Receivers that verify JWTs offline
(kube-apiserver, Envoy) do not ask: there a revoked access token lives until its ``exp``
(minutes), which is why access tokens are short.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from microstax.jose import JoseError, Policy, check, parse

from . import clientauth
from .config import Client
from .errors import OAuthError, invalid_client, invalid_request
from .runtime import Issuer, Platform
from .secrets import opaque_digest

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from .app import PlatformApp

#: a revocation outlives the tokens it names by the verifiers' clock leeway
LEEWAY = 60.0
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
INACTIVE: dict[str, Any] = {"active": False}


def metadata(issuer: Issuer) -> dict[str, Any]:
    """The discovery members (RFC 8414 §2) of both endpoints of ``issuer``."""
    return {
        "revocation_endpoint": f"{issuer.url}/oauth/revoke",
        "revocation_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "introspection_endpoint": f"{issuer.url}/oauth/introspect",
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
    }


def revoked_keys(claims: dict[str, Any]) -> list[str]:
    """The revocation keys an access token is subject to (its ``jti``, its session ``sid``)."""
    keys = []
    if isinstance(claims.get("jti"), str):
        keys.append(f"jti:{claims['jti']}")
    if isinstance(claims.get("sid"), str):
        keys.append(f"sid:{claims['sid']}")
    return keys


def is_revoked(platform: Platform, claims: dict[str, Any]) -> bool:
    """Whether an access token this platform issued was revoked (by ``jti`` or ``sid``)."""
    return platform.state.revoked(revoked_keys(claims))


def _own_access_token(issuer: Issuer, token: str) -> dict[str, Any] | None:
    """The claims of an access token this issuer signed and that is still valid, or None."""
    try:
        parsed = parse(token)
    except JoseError:
        return None
    policy = Policy(issuer=issuer.url, required_claims=("exp", "jti", "client_id"))
    _, _, error = check(parsed, issuer.keys(), policy)
    return None if error is not None else dict(parsed.claims)


def _looks_like_jwt(token: str) -> bool:
    return "." in token


def revoke_token(platform: Platform, issuer: Issuer, client: Client, token: str,
                 audit: dict[str, Any]) -> bool:
    """Revoke ``token`` if it is ``client``'s (see the module doc); True if anything was."""
    now = time.time()
    if not _looks_like_jwt(token):
        if issuer.cluster is not None:
            return False  # refresh tokens are the central issuer's
        session_until = now + platform.config.tokens.session_lifetime + LEEWAY
        grant = platform.state.revoke_refresh(opaque_digest(token), client.client_id,
                                              session_until=session_until, now=now)
        if grant is None:
            return False
        audit.update(subject=grant.user, scope=grant.scope, reason="refresh token revoked (session ended)")
        return True
    claims = _own_access_token(issuer, token)
    if claims is None or claims.get("client_id") != client.client_id:
        return False
    exp = claims["exp"]
    platform.state.revoke(f"jti:{claims['jti']}", float(exp) + LEEWAY)
    audit.update(subject=claims.get("sub"), jti=claims["jti"], reason="access token revoked")
    return True


def introspect_token(platform: Platform, issuer: Issuer, client: Client, token: str) -> dict[str, Any]:
    """The RFC 7662 answer for ``token`` as ``client`` may see it."""
    if not _looks_like_jwt(token):
        if issuer.cluster is not None:
            return INACTIVE
        found = platform.state.peek_refresh(opaque_digest(token))
        if found is None:
            return INACTIVE
        grant, expires = found
        if grant.client_id != client.client_id or grant.issuer != issuer.url:
            return INACTIVE
        return {"active": True, "token_type": "refresh_token", "iss": grant.issuer,
                "client_id": grant.client_id, "sub": grant.user, "username": grant.user,
                "scope": grant.scope, "exp": int(expires)}
    claims = _own_access_token(issuer, token)
    if claims is None or claims.get("client_id") != client.client_id or is_revoked(platform, claims):
        return INACTIVE
    return {**claims, "active": True, "token_type": "Bearer"}


async def _authenticated(app: PlatformApp, request: Request, issuer: Issuer,
                         audit: dict[str, Any]) -> tuple[clientauth.ClientAuth, str]:
    """Read the form, rate-limit, authenticate the client; (auth, token)."""
    from .app import read_form

    params, _ = await read_form(request, app.platform.config.limits.max_body_bytes)
    auth, _ = await app.authenticate_client(request, issuer, params, audit)
    token = params.get("token")
    if not token:
        raise invalid_request("token is required")
    return auth, token


async def revoke(app: PlatformApp, request: Request) -> Response:
    """``POST …/oauth/revoke`` (RFC 7009): 200 with an empty body unless the request itself is
    bad (400) or the client does not authenticate (401)."""
    from starlette.responses import Response

    from .app import NO_STORE, oauth_error_response

    platform = app.platform
    issuer = app.issuer_of(request)
    audit: dict[str, Any] = {"grant": "revocation"}
    try:
        auth, token = await _authenticated(app, request, issuer, audit)
        done = revoke_token(platform, issuer, auth.client, token, audit)
    except OAuthError as exc:
        platform.audit.record("denied", issuer=issuer.url, **{
            **audit, "reason": f"{exc.error}: {exc.description}"})
        return oauth_error_response(exc)
    if done:
        platform.audit.record("revoked", issuer=issuer.url, **audit)
    return Response(status_code=200, headers=NO_STORE)


async def introspect(app: PlatformApp, request: Request) -> Response:
    """``POST …/oauth/introspect`` (RFC 7662): always 200 with ``active`` for an authenticated
    confidential client; 400 for a bad request, 401 for any other caller."""
    from starlette.responses import JSONResponse

    from .app import NO_STORE, oauth_error_response

    platform = app.platform
    issuer = app.issuer_of(request)
    audit: dict[str, Any] = {"grant": "introspection"}
    try:
        auth, token = await _authenticated(app, request, issuer, audit)
        if auth.method == "none":
            raise invalid_client("introspection needs a confidential client (authenticate with "
                                 "its secret or a private_key_jwt assertion)")
        body = introspect_token(platform, issuer, auth.client, token)
    except OAuthError as exc:
        platform.audit.record("denied", issuer=issuer.url, **{
            **audit, "reason": f"{exc.error}: {exc.description}"})
        return oauth_error_response(exc)
    return JSONResponse(body, headers=NO_STORE)
