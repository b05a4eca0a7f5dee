"""Device authorization grant (RFC 8628) and refresh tokens: a person's sign-in session.

The session access token: ``sub`` = the user, ``aud`` = the platform audience, ``scope``
(``federate`` among them), ``client_id``, ``preferred_username``, ``sid`` = the session (the
refresh-token family: revoking the refresh token revokes the session's access tokens too, for
introspection). The refresh token is opaque, stored only as a SHA-256 digest, rotated on every
use; a reused one revokes its family.
Dev mode: with ``[dev] auto_approve_user`` on a loopback bind, a public client's pending
authorization is approved for that user at its first poll.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from typing import Any

from ..config import GRANT_DEVICE_CODE, GRANT_REFRESH, Client
from ..errors import OAuthError, invalid_grant, invalid_request, invalid_scope, unauthorized_client
from ..runtime import Issuer, Platform
from ..secrets import opaque_digest
from ..state import RefreshGrant, RefreshReused
from . import Issued, TokenRequest, mint, scope_set

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
DEVICE_GRANT = "the device authorization grant"


def new_user_code() -> str:
    chars = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_user_code(text: str) -> str:
    chars = "".join(c for c in text.upper() if c.isalpha())
    return f"{chars[:4]}-{chars[4:]}" if len(chars) == 8 else text.strip().upper()


def _allowed(client: Client, grant: str, name: str) -> None:
    if grant not in client.grant_types:
        raise unauthorized_client(f"this client may not use {name}")


def _session_param(req: TokenRequest, grant: str, name: str, *, action: str, param: str) -> str:
    """``param`` of a request for a session grant (device code, refresh), which only the
    central issuer serves, to clients allowed to use it."""
    if req.issuer.cluster is not None:
        raise unauthorized_client(f"{action} at the central issuer")
    _allowed(req.auth.client, grant, name)
    value = req.params.get(param)
    if not value:
        raise invalid_request(f"{param} is required")
    return value


def authorize(platform: Platform, client: Client, params: dict[str, str]) -> dict[str, Any]:
    """``POST /oauth/device_authorization``: start a sign-in."""
    config = platform.config
    _allowed(client, GRANT_DEVICE_CODE, DEVICE_GRANT)
    requested = scope_set(params.get("scope"))
    extra = [s for s in requested if s not in client.scopes]
    if extra:
        raise invalid_scope(f"scope not available to this client: {' '.join(extra)}")
    scope = " ".join(requested or client.scopes)
    device_code = secrets.token_urlsafe(32)
    lifetime, interval = config.tokens.device_code_lifetime, config.tokens.device_poll_interval
    for _ in range(5):
        user_code = new_user_code()
        try:
            platform.state.create_device(opaque_digest(device_code), user_code, client.client_id,
                                         scope, platform.central.url, time.time() + lifetime, interval)
            break
        except sqlite3.IntegrityError:  # a user-code collision: draw again
            continue
    else:
        raise OAuthError("temporarily_unavailable", "could not allocate a user code", status=503)
    uri = f"{platform.central.url}/device"
    return {"device_code": device_code, "user_code": user_code, "verification_uri": uri,
            "verification_uri_complete": f"{uri}?user_code={user_code}", "expires_in": lifetime,
            "interval": interval}


def _session(req: TokenRequest, user: str, scope: str, family: str, refresh_expires: float) -> Issued:
    platform = req.platform
    config = platform.config
    issuer: Issuer = platform.central
    lifetime = config.tokens.session_lifetime
    claims = {"sub": user, "aud": config.audience, "client_id": req.auth.client.client_id,
              "scope": scope, "preferred_username": user, "sid": family}
    token, jti, _ = mint(issuer, claims, lifetime)
    refresh = secrets.token_urlsafe(32)
    platform.state.store_refresh(opaque_digest(refresh),
                                 RefreshGrant(family, user, req.auth.client.client_id, scope, issuer.url),
                                 refresh_expires)
    req.audit.update(jti=jti, scope=scope, audience=config.audience)
    return Issued({"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
                   "refresh_token": refresh, "scope": scope,
                   "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})


def poll(req: TokenRequest) -> Issued:
    platform, client = req.platform, req.auth.client
    config = platform.config
    device_code = _session_param(req, GRANT_DEVICE_CODE, DEVICE_GRANT, action="sign in", param="device_code")
    auto = None
    if (config.auto_approve_user and platform.loopback_bound and req.remote_loopback
            and client.public):
        auto = config.auto_approve_user
    outcome = platform.state.poll_device(opaque_digest(device_code), client.client_id,
                                         auto_approve_user=auto)
    if outcome is None:
        raise invalid_grant("unknown, used or foreign device_code")
    if outcome.status == "expired":
        raise OAuthError("expired_token", "the device code expired; start the sign-in again")
    if outcome.status == "denied":
        raise OAuthError("access_denied", "the sign-in was denied")
    if outcome.status == "slow_down":
        raise OAuthError("slow_down", f"poll at most every {outcome.interval}s")
    if outcome.status == "pending":
        raise OAuthError("authorization_pending", "waiting for the user to approve")
    user_name = outcome.user or ""
    req.audit["subject"] = user_name
    if auto is not None:
        req.audit["reason"] = "dev auto-approve (loopback)"
    user = config.users.get(user_name)
    if user is None:
        raise invalid_grant("the approving user no longer exists")
    scope = " ".join(s for s in scope_set(outcome.scope) if s in user.scopes)
    family = secrets.token_urlsafe(12)
    return _session(req, user.name, scope, family, time.time() + config.tokens.refresh_lifetime)


def refresh(req: TokenRequest) -> Issued:
    platform, client = req.platform, req.auth.client
    config = platform.config
    token = _session_param(req, GRANT_REFRESH, "refresh tokens", action="refresh", param="refresh_token")
    digest = opaque_digest(token)
    try:
        grant = platform.state.use_refresh(digest)
    except RefreshReused as exc:
        raise invalid_grant("the refresh token was already used; the session is revoked") from exc
    if grant is None:
        raise invalid_grant("unknown or expired refresh token")
    req.audit["subject"] = grant.user
    if grant.client_id != client.client_id:
        raise invalid_grant("the refresh token belongs to another client")
    user = config.users.get(grant.user)
    if user is None:
        raise invalid_grant("the user no longer exists")
    held = scope_set(grant.scope)
    requested = scope_set(req.params.get("scope"))
    extra = [s for s in requested if s not in held]
    if extra:
        raise invalid_scope(f"a refresh cannot add scope: {' '.join(extra)}")
    scope = " ".join(s for s in (requested or held) if s in user.scopes)
    expires = platform.state.refresh_expiry(digest) or time.time() + config.tokens.refresh_lifetime
    return _session(req, user.name, scope, grant.family, expires)
